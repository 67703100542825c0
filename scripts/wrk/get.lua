-- wrk script of scripts/bench_ingest.py for GETs: prints one JSON line with the figures at the end.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%f,"non_2xx":%d,"socket_errors":%d,"timeouts":%d,"p50_ms":%f,"p99_ms":%f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
