// The page's estimate of the server's wall clock, so latency stays honest on
// a classroom browser whose clock is not the server's.
//
// NTP-style: a few round trips to /api/time, each giving
//   offset = t_server − (t_sent + t_received) / 2,
// and the sample with the smallest round trip wins (its error is at most half
// that round trip). It re-estimates now and then; it does not slew or smooth.

const SAMPLES = 5;
const REFRESH_MS = 60_000;

/** Local wall-clock time in integer microseconds. */
export function localNowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export class ServerClock {
  constructor() {
    this.offsetUs = 0;
    this.rttUs = null;
    this.error = null;
    this.listeners = new Set();
  }

  /** Server time now, in microseconds since the epoch (local time + offset). */
  nowUs() {
    return localNowUs() + this.offsetUs;
  }

  /** Call `listener(clock)` after every estimate. */
  onChange(listener) {
    this.listeners.add(listener);
  }

  /** Estimate once, then keep re-estimating every minute. */
  async start() {
    await this.estimate();
    setInterval(() => this.estimate(), REFRESH_MS);
  }

  async estimate() {
    let best = null;
    for (let i = 0; i < SAMPLES; i += 1) {
      try {
        const sent = localNowUs();
        const response = await fetch("/api/time", { cache: "no-store" });
        if (!response.ok) throw new Error(`/api/time answered HTTP ${response.status}`);
        const { t_us: serverUs } = await response.json();
        const received = localNowUs();
        const sample = { rtt: received - sent, offset: serverUs - (sent + received) / 2 };
        if (best === null || sample.rtt < best.rtt) best = sample;
      } catch (err) {
        this.error = `clock offset unknown (${err.message}); assuming 0`;
        break;
      }
    }
    if (best !== null) {
      this.offsetUs = Math.round(best.offset);
      this.rttUs = best.rtt;
      this.error = null;
    }
    for (const listener of this.listeners) listener(this);
  }
}
