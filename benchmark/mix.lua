-- wrk script of ./benchmark.sh serving: each thread sends the bodies of MIX_BODIES (one JSON body
-- per line) in turn, from its own starting line, as POSTs with a JSON content type.
local bodies = {}
for line in io.lines(os.getenv("MIX_BODIES")) do
  bodies[#bodies + 1] = line
end
local threads = 0
local next_body = 0

function setup(thread)
  thread:set("first", threads * 17)
  threads = threads + 1
end

function init(args)
  next_body = first or 0
end

function request()
  next_body = next_body + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(next_body % #bodies) + 1])
end
