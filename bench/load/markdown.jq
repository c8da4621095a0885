# The results document (summarize.jq's output) as Markdown tables. Use with jq -r.

def show: if . == null then "n/a" else tostring end;
def ratio: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;
def cell($srv; $f): ($srv // {}) as $x | if ($x.runs // 0) == 0 then "n/a"
  elif $x.median_rps == null then "failed" else ($x[$f] | show) end;

"# Pounce vs Kestrel, \(.date)",
"",
"Commit \(.commit), \(.machine.cpus) CPUs, Linux \(.machine.kernel), .NET SDK \(.machine.dotnet), wrk \(.machine.wrk).",
"wrk -t\(.settings.threads) -c\(.settings.connections), \(.settings.duration_s) s per run after \(.settings.warmup_s) s warm-up, \(.settings.rounds) rounds alternated (\(.settings.servers | join(", "))); pipelined: \(.settings.pipeline) requests per write; h2: h2load -c\(.settings.h2_connections) -m\(.settings.h2_streams).",
"Medians over rounds; Pounce/Kestrel is the median of per-round ratios, which `rounds` lists in order (one round is one process of each server: a single process's speed varies by 15 % or more on a small VM, so read the spread). Peak RSS is the largest VmHWM seen. B/req: bytes the server process allocated during the measured run (GC.GetTotalAllocatedBytes) over requests served, median over rounds. CPU µs/req: the server process's user + system time during the measured run (/proc/PID/stat) over requests served; CPU K/P, the median of per-round Kestrel/Pounce ratios of it (above 1: Pounce spends less CPU per request; on a 2-core box the load generator shares the cores, so this is the server's own cost).",
"Every row runs the realistic app (minimal APIs with routing, the web template's logging, each server at its defaults: Pounce's access log on) except `core-*` rows (routing-free app.Run, no logging on either side). `logfile`: Pounce with lifecycle logging at debug and the access log, JSON, both to a file, against Kestrel at its defaults.",
"",
"| scenario | Kestrel req/s | Pounce req/s | Pounce/Kestrel | rounds | Kestrel p99 ms | Pounce p99 ms | Kestrel peak RSS MB | Pounce peak RSS MB | Kestrel B/req | Pounce B/req | Kestrel CPU µs/req | Pounce CPU µs/req | CPU K/P | errors K/P |",
"|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
(.compare[] |
  "| \(.scenario) | \(cell(.servers.kestrel; "median_rps")) | \(cell(.servers.pounce; "median_rps")) | \(.pounce_over_kestrel | ratio) | \((.ratios // []) | map(ratio) | join(" / ")) | \(cell(.servers.kestrel; "median_p99_ms")) | \(cell(.servers.pounce; "median_p99_ms")) | \(cell(.servers.kestrel; "max_peak_rss_mb")) | \(cell(.servers.pounce; "max_peak_rss_mb")) | \(cell(.servers.kestrel; "median_alloc_bytes_per_request")) | \(cell(.servers.pounce; "median_alloc_bytes_per_request")) | \(cell(.servers.kestrel; "median_cpu_us_per_request")) | \(cell(.servers.pounce; "median_cpu_us_per_request")) | \(.cpu_kestrel_over_pounce | ratio) | \(.servers.kestrel.errors // "n/a")/\(.servers.pounce.errors // "n/a") |"),
(if .logging == null then empty else
  "",
  "## Lifecycle logging and OpenTelemetry overhead (Pounce, plaintext)",
  "",
  "| variant | req/s | ratio to off | target | p99 ms | log lines per run |",
  "|---|---:|---:|---:|---:|---:|",
  (.logging[] |
    "| \(.variant) | \(if .median_rps == null then "failed" else .median_rps end) | \(.ratio_to_off | ratio) | \(({"off": "1.00", "info": ">= 0.98", "debug": ">= 0.90"}[.variant] // "n/a")) | \(.median_p99_ms | show) | \(.median_log_lines | show) |")
end),
(if (.idle | length) == 0 then empty else
  "",
  "## Idle keep-alive connections",
  "",
  "| server | transport | connections open | failed | RSS before MB | RSS after MB | bytes per connection |",
  "|---|---|---:|---:|---:|---:|---:|",
  (.idle[] |
    (if .tls == true then "TLS" else "plain" end) as $t |
    if .ok then
      "| \(.server) | \($t) | \(.connections_open) | \(.connections_failed) | \(.rss_before_kb / 1024 * 10 | round / 10) | \(.rss_after_kb / 1024 * 10 | round / 10) | \(.bytes_per_connection | show) |"
    else "| \(.server) | \($t) | failed | | | | |" end)
end)
