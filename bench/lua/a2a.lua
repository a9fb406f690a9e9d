-- One wrk script for every scenario, configured through the environment:
--   BENCH_MODE   get | send | followup
--   BENCH_PATH   request path (get: the task URL with its query; send/followup: message:send)
--   BENCH_TASKS  followup only: file with one "taskId contextId" per line (round-robin)
--   BENCH_OUT    where done() writes the JSON summary (latencies in microseconds)
--   BENCH_RUN    a tag that keeps messageIds unique across runs
-- Headers are the same for every server: the SDK reference ignores the credentials.

local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/"
local out = os.getenv("BENCH_OUT") or "/dev/stdout"
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local tasks = {}
local counter = 0

--   BENCH_BEARER optional: an access token, sent as Authorization: Bearer instead of the key
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
else
  wrk.headers["X-API-Key"] = "demo-key"
end
wrk.headers["Tenant-Name"] = "demo"
wrk.headers["A2A-Version"] = "1.0"

local function load_tasks(file)
  for line in io.lines(file) do
    local id, ctx = line:match("^(%S+)%s+(%S+)$")
    if id then tasks[#tasks + 1] = { id, ctx } end
  end
end

if mode ~= "get" then wrk.headers["Content-Type"] = "application/json" end
if mode == "followup" then load_tasks(os.getenv("BENCH_TASKS")) end

function setup(thread)
  thread:set("tag", run .. "-" .. tostring(math.random(1, 1000000000)))
end

local function message(extra, text)
  counter = counter + 1
  return '{"message":{"messageId":"bench-' .. (tag or run) .. '-' .. counter ..
         '","role":"ROLE_USER",' .. extra .. '"parts":[{"text":"' .. text .. ' ' .. counter ..
         '"}]},"configuration":{"historyLength":10}}'
end

function request()
  if mode == "get" then
    return wrk.format("GET", path)
  end
  -- wrk.format replaces wrk.headers when given a table: pass nil to keep them.
  if mode == "send" then
    return wrk.format("POST", path, nil, message("", "hello"))
  end
  local t = tasks[(counter % #tasks) + 1]
  local extra = '"taskId":"' .. t[1] .. '","contextId":"' .. t[2] .. '",'
  return wrk.format("POST", path, nil, message(extra, "keep-open follow-up"))
end

function done(summary, latency, requests)
  local e = summary.errors
  local f = io.open(out, "w")
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  f:close()
end
