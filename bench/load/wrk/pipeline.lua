-- wrk script for the pipelined plaintext run (the TechEmpower way): each write carries
-- `depth` requests (first script argument, default 16). wrk calls request() once per write,
-- not once per request. Prints the same WRKJSON summary line as report.lua.
local batch

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  batch = table.concat(r)
end

request = function()
  return batch
end

-- The WRKJSON summary line: report.lua's done(), loaded from this script's own folder.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")
