-- wrk script for the model-binding run: every request is `POST /users` with a small JSON body that the realistic
-- app binds to its User record and answers 201 with. Set at load time only (no request() function), so wrk stays in
-- its static mode. Prints the same WRKJSON summary line as report.lua.
wrk.method = "POST"
wrk.body = '{"id":42,"name":"user42","email":"user42@example.com","active":true}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.2f,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
