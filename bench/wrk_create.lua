-- wrk script: every request creates a new chain with a unique name.
local counter = 0
tid = 0
setup = function(thread)
  tid = tid + 1
  thread:set("tid", tid)
end
request = function()
  counter = counter + 1
  local body = string.format('{"name":"b%d-%d","tenant":"bench"}', tid, counter)
  return wrk.format("POST", "/v1/chains", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. token}, body)
end
init = function(args)
  token = args[1]
end
