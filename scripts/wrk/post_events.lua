-- wrk script of scripts/bench_ingest.py: each request POSTs one new event (unique note) to one of
-- the lots in the LOTS environment variable (comma separated, percent-encoded), as the producer
-- whose API key is in TOKEN. Prints one JSON line with the figures at the end.
local lots, token = {}, os.getenv("TOKEN")
for lot in string.gmatch(os.getenv("LOTS"), "[^,]+") do lots[#lots + 1] = lot end
local threads, counter, tid = {}, 0, 0

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

function request()
  counter = counter + 1
  local lot = lots[(counter + tid * 7) % #lots + 1]
  local body = string.format(
    '{"type":"ObjectEvent","action":"OBSERVE","bizStep":"storing","eventTime":"2026-07-02T06:30:00+07:00",'
      .. '"ilmd":{"note":"wrk-%d-%d"}}', tid, counter)
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/lots/" .. lot .. "/events", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%f,"non_2xx":%d,"socket_errors":%d,"timeouts":%d,"p50_ms":%f,"p99_ms":%f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
