-- signed.lua: a wrk script that POSTs pre-signed webhook requests, each exactly once.
--
--   wrk -t2 -c64 -d10s --latency -s bench/signed.lua http://127.0.0.1:PORT/webhooks/jelou \
--       -- REQUESTS_FILE THREADS [HEADER [EXPECTED_STATUS]]
--
-- REQUESTS_FILE  lines of "<signature header value>\t<raw body>" (bench/gen_jelou.py)
-- THREADS        the same number as wrk's -t (each thread takes its own slice of the file)
-- HEADER         the signature header's name (default X-Jelou-Signature)
-- EXPECTED_STATUS the status of an accepted event (default 202, the sources' ack_status)
--
-- Each wrk thread reads a disjoint byte range of the file (the lines that START in it), so no
-- line is sent twice across threads, and walks it line by line: no request is ever repeated.
-- If a thread runs out of lines it stops early and done() reports it as exhausted (generate
-- more lines). The first line of the first thread is consumed unsent: wrk calls request()
-- once at start-up to check that it makes valid HTTP.
--
-- response() counts answers: accepted (EXPECTED_STATUS with "duplicate": false), duplicates
-- (EXPECTED_STATUS with "duplicate": true) and everything else by status code.
-- done() prints a readable report and one machine-readable line starting with RESULT.

local find, sub, format = string.find, string.sub, string.format

-- ---- setup: main Lua state, once per thread before it starts -------------------------
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- ---- running: one Lua state per wrk thread -------------------------------------------
-- The slice is streamed from the file in 1 MiB chunks as request() needs lines: init() costs
-- nothing (wrk runs the threads' init() one after another and starts each thread right after
-- its own, so a slow init would give the first threads a head start), and memory stays flat
-- however long the run.
local CHUNK = 1048576
local f                         -- this thread's handle on the requests file
local buf, bpos = "", 1         -- buffered file bytes; index in buf of the next line's start
local buf_off                   -- file offset of buf's first byte
local hi                        -- this thread owns the lines that start before this offset
local prefix, sig_header
-- Globals, not locals: done() reads them from each thread with thread:get().
expected = 202                  -- the status of an accepted event
accepted, duplicates, other = 0, 0, 0
exhausted = 0
statuses = {}                   -- status code (as string) -> count, for non-accepted answers
first_error = nil               -- "<status> <body>" of the first unexpected answer

-- Keep buf's unread tail and append the next chunk; false at the end of the file.
local function refill()
   local more = f:read(CHUNK)
   if not more then return false end
   buf_off = buf_off + bpos - 1
   buf = sub(buf, bpos) .. more
   bpos = 1
   return true
end

function init(args)
   local file = args[1]
   local nthreads = tonumber(args[2] or "")
   sig_header = args[3] or "X-Jelou-Signature"
   expected = tonumber(args[4] or "202")
   if not file or not nthreads or nthreads < 1 then
      error("usage: wrk ... -s signed.lua URL -- REQUESTS_FILE THREADS [HEADER [STATUS]]")
   end
   if id >= nthreads then
      error(format("thread %d but THREADS=%d: pass wrk's -t as the second argument", id, nthreads))
   end

   f = assert(io.open(file, "rb"))
   local size = f:seek("end")
   -- This thread owns the lines whose first byte's offset is in [lo, hi).
   local lo = math.floor(size * id / nthreads)
   hi = math.floor(size * (id + 1) / nthreads)
   if lo == 0 then
      buf_off = 0
      f:seek("set", 0)
   else
      -- Start at lo-1: the first line start at or after lo follows the first newline there.
      buf_off = lo - 1
      f:seek("set", lo - 1)
      while true do
         local nl = find(buf, "\n", bpos, true)
         if nl then bpos = nl + 1; break end
         bpos = #buf + 1
         if not refill() then break end
      end
   end

   local host = wrk.host
   if wrk.port and wrk.port ~= "" then host = host .. ":" .. wrk.port end
   prefix = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host ..
            "\r\nContent-Type: application/json\r\n" .. sig_header .. ": "
end

local idle = "GET /healthz HTTP/1.1\r\nHost: " .. (wrk.host or "localhost") .. "\r\n\r\n"

function request()
   while buf_off + bpos - 1 < hi do          -- the next line starts in this thread's slice
      local nl = find(buf, "\n", bpos, true)
      if nl then
         local tab = find(buf, "\t", bpos, true)
         local line_start = bpos
         bpos = nl + 1
         if tab and tab < nl then
            local sig = sub(buf, line_start, tab - 1)
            local body = sub(buf, tab + 1, nl - 1)
            return prefix .. sig .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
         end
         -- a line without a tab (e.g. empty) is skipped
      elseif not refill() then
         break                                -- last line has no newline: ignore it
      end
   end
   -- Out of lines: never resend one (that would be a duplicate, not a durable insert).
   if exhausted == 0 then
      io.stderr:write(format("signed.lua: thread %d ran out of requests; stopping it\n", id))
      wrk.thread:stop()
   end
   exhausted = exhausted + 1
   return idle
end

function response(status, headers, body)
   if exhausted > 0 then return end           -- answers to the idle request
   local k
   if status == expected then
      if find(body, '"duplicate"%s*:%s*false') then
         accepted = accepted + 1
         return
      elseif find(body, '"duplicate"%s*:%s*true') then
         duplicates = duplicates + 1
         return
      end
      k = tostring(status) .. "-without-duplicate-field"
   else
      k = tostring(status)
   end
   other = other + 1
   statuses[k] = (statuses[k] or 0) + 1
   if not first_error then first_error = k .. " " .. sub(body or "", 1, 300) end
end

-- ---- done: main Lua state, after the run ---------------------------------------------
function done(summary, latency, requests)
   local expected = threads[1] and threads[1]:get("expected") or 202
   local acc, dup, oth, exh = 0, 0, 0, 0
   local by_status, first = {}, nil
   for _, t in ipairs(threads) do
      acc = acc + (t:get("accepted") or 0)
      dup = dup + (t:get("duplicates") or 0)
      oth = oth + (t:get("other") or 0)
      if (t:get("exhausted") or 0) > 0 then exh = exh + 1 end
      for k, v in pairs(t:get("statuses") or {}) do by_status[k] = (by_status[k] or 0) + v end
      first = first or t:get("first_error")
   end

   local secs = summary.duration / 1e6
   local non2xx = 0
   local parts = {}
   for k, v in pairs(by_status) do
      local code = tonumber(k:match("^%d+"))
      if code < 200 or code > 299 then non2xx = non2xx + v end
      table.insert(parts, k .. "=" .. v)
   end
   table.sort(parts)
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local ms = function(us) return us / 1000 end

   io.write("\n-- signed.lua ------------------------------------------------\n")
   io.write(format("  responses     %d in %.2f s (%.0f/s)\n", summary.requests, secs, summary.requests / secs))
   io.write(format("  accepted      %d (%d, not duplicate): %.0f/s\n", acc, expected, acc / secs))
   io.write(format("  duplicates    %d\n", dup))
   io.write(format("  other status  %d %s\n", oth, #parts > 0 and ("(" .. table.concat(parts, " ") .. ")") or ""))
   io.write(format("  socket errors connect %d, read %d, write %d, timeout %d\n", e.connect, e.read, e.write, e.timeout))
   io.write(format("  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency:percentile(99.9)), ms(latency.max)))
   if first then io.write("  first unexpected answer: " .. first .. "\n") end
   if exh > 0 then
      io.write(format("  WARNING: %d thread(s) ran out of pre-generated requests; the run is short\n", exh))
   end
   io.write(format(
      "RESULT responses=%d seconds=%.3f rps=%.1f accepted=%d accepted_rps=%.1f duplicates=%d non_accepted=%d non2xx=%d socket_errors=%d timeouts=%d exhausted_threads=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
      summary.requests, secs, summary.requests / secs, acc, acc / secs, dup, oth, non2xx,
      socket_errors, e.timeout, exh,
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency:percentile(99.9)), ms(latency.max)))
end
