// Number formatting shared by the classroom page and the dashboard.

/** "1.2 kB"-style byte counts (SI units, as network rates are quoted). */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}
