-- wrk script: cycle through the request paths listed (one a line) in the file $WRK_PATHS,
-- each thread starting at a different offset, and print one machine-readable summary line.
-- Used by bench/common.py (wrk_load) for our API and tipg alike. errors.status counts answers
-- with a status above 399 (no Lua response() hook: it would slow wrk down).
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end

local n_threads = 0

function setup(thread)
  thread:set("offset", n_threads * 997)
  n_threads = n_threads + 1
end

function init(args)
  i = offset or 0
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d mean_us=%.1f " ..
    "errors_connect=%d errors_read=%d errors_timeout=%d errors_status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, summary.errors.status))
end
