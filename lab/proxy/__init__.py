"""A real reverse proxy in front of the lab: ``python -m lab --proxy nginx``.

Today a browser rarely reaches a server directly: it speaks HTTP/2 over TLS to a reverse
proxy, which speaks HTTP/1.1 to the application, buffers responses and times out quiet
requests unless told otherwise. This package runs Debian's nginx as a child process so each
transport can be watched and measured through one:

- :mod:`lab.proxy.config`: the generated ``nginx.conf`` (profiles ``tuned`` and ``default``),
  pure functions;
- :mod:`lab.proxy.certificate`: a fresh TLS certificate and its fingerprint;
- :mod:`lab.proxy.options`: the flags, free ports, the origins the lab must then allow;
- :mod:`lab.proxy.nginx`: the child process.
"""
