-- wrk script: POST a small chat completion. BODY_MODEL and STREAM come from the environment.
local model = os.getenv("BENCH_MODEL") or "bench"
local stream = os.getenv("BENCH_STREAM") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "none")
wrk.body = '{"model":"' .. model .. '","stream":' .. tostring(stream) ..
  ',"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}]}'

-- BENCH_DELAY_MS: each connection waits about this long before each request, so that the offered
-- load is about connections x 1000 / (delay + latency) requests a second instead of "as fast as
-- possible". The pause is drawn uniformly from [0, 2 x delay] so that the connections do not fire
-- in step (which would measure bursts of simultaneous requests, not a steady rate).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause and pause > 0 then
  math.randomseed(os.time())
  delay = function() return math.random(0, 2 * pause) end
end

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
