-- wrk: POST /v1/votes with tally-loadgen's body shape, a distinct voter per request.
-- Each request is a new voter: "w<thread>-<n>", candidates round robin, ip per voter;
-- "id" is the global that setup() sets in each thread's own Lua state.
local threads = {}
local counter = 0
local cands = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  for c in string.gmatch(os.getenv("COMPARE_CANDIDATES") or "c01", "[^,]+") do
    table.insert(cands, c)
  end
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("COMPARE_TOKEN") or "x")
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"campaign":"%s","candidate":"%s","voter":"w%d-%d","ip":"10.%d.%d.%d","device":"d%d-%d"}',
    os.getenv("COMPARE_CAMPAIGN") or "ordos-2023-zuimei", cands[(counter % #cands) + 1],
    id, counter, id, math.floor(counter / 256) % 256, counter % 256, id, counter)
  return wrk.format("POST", "/v1/votes", nil, body)
end
