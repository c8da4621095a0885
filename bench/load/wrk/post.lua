-- wrk script for the model-binding run: every request is `POST /users` with a small JSON body that the realistic
-- app binds to its User record and answers 201 with. Set at load time only (no request() function), so wrk stays in
-- its static mode. Prints the same WRKJSON summary line as report.lua.
wrk.method = "POST"
wrk.body = '{"id":42,"name":"user42","email":"user42@example.com","active":true}'
wrk.headers["Content-Type"] = "application/json"

-- The WRKJSON summary line: report.lua's done(), loaded from this script's own folder.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")
