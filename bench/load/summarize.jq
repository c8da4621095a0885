# Turns the runs recorded by run.sh (jq -s: an array of run objects) into the results document.
# Medians over rounds; Pounce/Kestrel and logging ratios are medians of per-round (pairwise) ratios,
# so a machine that drifts during the run hits both sides of each ratio alike.

def median:
  map(select(. != null)) | sort
  | if length == 0 then null
    elif length % 2 == 1 then .[(length - 1) / 2]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;

def round_to($digits): if . == null then null else (. * pow(10; $digits) | round) / pow(10; $digits) end;

def first_seen: reduce .[] as $x ([]; if any(.[]; . == $x) then . else . + [$x] end);

# Per-round ratio of field rps: runs of side $num over runs of side $den, matched by round.
def pairwise($runs; num; den):
  [ $runs[] | select(.ok and num) ] as $n
  | [ $runs[] | select(.ok and den) ] as $d
  | [ $n[] as $a | $d[] | select(.round == $a.round and .rps > 0) | $a.rps / .rps ];

# Per-round ratio of server CPU per request, Kestrel's over Pounce's (above 1: Pounce spent less CPU per request).
def pairwise_cpu($runs):
  [ $runs[] | select(.ok and .server == "pounce" and .cpu_us_per_request != null and .cpu_us_per_request > 0) ] as $p
  | [ $runs[] | select(.ok and .server == "kestrel" and .cpu_us_per_request != null) ] as $k
  | [ $p[] as $a | $k[] | select(.round == $a.round) | .cpu_us_per_request / $a.cpu_us_per_request ];

def side_summary($runs):
  ($runs | map(select(.ok))) as $ok
  | {
      runs: ($runs | length),
      failed_runs: ($runs | map(select(.ok | not)) | length),
      median_rps: ($ok | map(.rps) | median | round_to(0)),
      median_p99_ms: ($ok | map(.p99_ms) | median | round_to(3)),
      median_alloc_bytes_per_request: ($ok | map(.alloc_bytes_per_request) | median | round_to(0)),
      median_cpu_us_per_request: ($ok | map(.cpu_us_per_request) | median | round_to(2)),
      max_peak_rss_mb: ($ok | map(.peak_rss_kb) | map(select(. != null)) | if length == 0 then null else max / 1024 end | round_to(1)),
      errors: (if ($ok | length) == 0 then null else ($ok | map(.error_count // 0) | add) end)
    };

. as $runs
| {
    date: $date,
    commit: $commit,
    machine: { cpus: ($cpus | tonumber), kernel: $kernel, dotnet: $dotnet, wrk: $wrk },
    settings: $settings,
    compare: [
      ($runs | map(select(.group == "compare") | .scenario) | first_seen)[] as $s
      | ($runs | map(select(.group == "compare" and .scenario == $s))) as $sr
      | pairwise($sr; .server == "pounce"; .server == "kestrel") as $ratios
      | {
          scenario: $s,
          servers: ($settings.servers | map(. as $n | { key: $n, value: side_summary($sr | map(select(.server == $n))) }) | from_entries),
          pounce_over_kestrel: ($ratios | median | round_to(3)),
          cpu_kestrel_over_pounce: (pairwise_cpu($sr) | median | round_to(3)),
          ratios: ($ratios | map(round_to(3)))
        }
    ],
    logging: (
      ($runs | map(select(.group == "logging"))) as $lr
      | if ($lr | length) == 0 then null else
          [ ("off", "info", "debug", "otel") as $v
            | pairwise($lr; .variant == $v; .variant == "off") as $ratios
            | side_summary($lr | map(select(.variant == $v))) + {
                variant: $v,
                median_log_lines: ($lr | map(select(.ok and .variant == $v) | .log_lines) | median),
                ratio_to_off: ($ratios | median | round_to(3)),
                ratios: ($ratios | map(round_to(3)))
              } ]
        end),
    idle: ($runs | map(select(.group == "idle"))),
    runs: $runs
  }
