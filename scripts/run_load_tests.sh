#!/usr/bin/env bash
# Run the shop's load scenarios (or Locust's web UI) without remembering pytest flags.
# See usage() below, or: scripts/run_load_tests.sh --help
set -euo pipefail

PROG="scripts/run_load_tests.sh"
MODES="quick interactive race standard stress all"

usage() {
    cat <<'EOF'
Usage: scripts/run_load_tests.sh MODE [options] [-- extra pytest arguments]

Modes:
  quick        smoke load: tests/perf/test_smoke.py (10 users; every endpoint p95 < 100 ms, no errors)
  standard     tests/perf/test_load.py::test_standard (50 users)
  stress       tests/perf/test_load.py::test_stress (200 users)
  race         the races: pytest tests/perf -m race (last item, race at scale)
  all          quick -> standard -> race -> stress, going on after a failure; ends with one
               summary table and exits non-zero if any mode failed
  interactive  boot the shop (unless --host), seed a few products and open Locust's own web UI
               on http://127.0.0.1:8089 with the shop's users loaded and the host filled in;
               Ctrl-C stops Locust and the shop

Options:
  --host URL       target an already running server (e.g. http://127.0.0.1:8000); nothing is
                   booted and pytest gets --loadgate-host URL
  --full           the full-length runs: pytest --loadgate-profile=full
  --web-port PORT  port of Locust's web UI in interactive mode (default 8089; always 127.0.0.1)
  --reports DIR    where reports go (default: reports/ in the repository)
  -h, --help       this help
  -- ARGS          everything after -- goes to pytest unchanged (e.g. -- -x -q)

Without --host, pytest boots the shop itself for the run (its own process on a free
127.0.0.1 port with a fresh SQLite database; the plugin polls /health and watches it).

Each pytest mode leaves in reports/ (or --reports DIR):
  <mode>_<timestamp>/       the run's report dir: index.html and, per load test, Locust's HTML,
                            its CSV and the verdict JSON; junit.xml
  <mode>_<timestamp>.html   the run's index.html (verdicts, figures, checks; links into the dir)
  <mode>_<timestamp>.csv    one line per load test: verdict, requests, rps, avg/p50/p95/p99/max,
                            error rate, failed checks
  <mode>_<timestamp>.log    pytest's output
interactive leaves Locust's HTML report (written when Locust stops), its stats CSV and the log;
all also leaves all_<timestamp>.{html,csv,log}.

Exit status: 0 all passed; 1 a test failed or a server did not start; 2 usage error;
130 interrupted (Ctrl-C in interactive mode is the normal way to stop: exit 0).
EOF
}

usage_error() {
    echo "$PROG: $1" >&2
    echo "Try '$PROG --help'. Modes: ${MODES// /, }." >&2
    exit 2
}

# -- arguments -----------------------------------------------------------------------------------
MODE=""
HOST=""
FULL=0
WEB_PORT=8089
REPORTS=""
EXTRA=()
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --host) (($# >= 2)) || usage_error "--host needs a URL"; HOST="$2"; shift 2 ;;
        --host=*) HOST="${1#--host=}"; shift ;;
        --full) FULL=1; shift ;;
        --web-port) (($# >= 2)) || usage_error "--web-port needs a port"; WEB_PORT="$2"; shift 2 ;;
        --web-port=*) WEB_PORT="${1#--web-port=}"; shift ;;
        --reports) (($# >= 2)) || usage_error "--reports needs a directory"; REPORTS="$2"; shift 2 ;;
        --reports=*) REPORTS="${1#--reports=}"; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            [[ -z "$MODE" ]] || usage_error "one mode only (got '$MODE' and '$1')"
            MODE="$1"; shift ;;
    esac
done
[[ -n "$MODE" ]] || usage_error "no mode given"
case " $MODES " in
    *" $MODE "*) ;;
    *) usage_error "unknown mode '$MODE'" ;;
esac
if [[ -n "$HOST" && ! "$HOST" =~ ^https?://[^/[:space:]]+/?$ ]]; then
    usage_error "--host: '$HOST' is not a base URL; use e.g. http://127.0.0.1:8000"
fi
HOST="${HOST%/}"
if [[ ! "$WEB_PORT" =~ ^[0-9]+$ ]] || ((WEB_PORT < 1 || WEB_PORT > 65535)); then
    usage_error "--web-port: '$WEB_PORT' is not a port number (1-65535)"
fi

# -- environment ---------------------------------------------------------------------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "$REPORTS" ]]; then
    REPORTS="$ROOT/reports"
elif [[ "$REPORTS" != /* ]]; then
    REPORTS="$PWD/$REPORTS"  # relative to where the script was called from
fi
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
HELPERS="$ROOT/scripts/interactive_helpers.py"
if [[ ! -x "$PY" ]]; then
    echo "$PROG: no virtualenv at $ROOT/.venv" >&2
    echo "Create it first: 'make .venv/.installed' (or 'make test', which also runs the suite)." >&2
    exit 1
fi
mkdir -p "$REPORTS"
# The plugin's console script (its module where the venv predates the script's entry point).
if [[ -x "$ROOT/.venv/bin/loadgate" ]]; then
    LOADGATE=("$ROOT/.venv/bin/loadgate")
else
    LOADGATE=("$PY" -m pytest_loadgate.cli)
fi

timestamp() { date +%Y%m%d-%H%M%S; }

# A fresh stem reports/<mode>_<timestamp> (suffixed if two runs start in the same second).
new_stem() {
    local stem n=1
    stem="$REPORTS/$1_$(timestamp)"
    while [[ -e "$stem" || -e "$stem.log" ]]; do
        n=$((n + 1))
        stem="$REPORTS/$1_$(timestamp)-$n"
    done
    echo "$stem"
}

INTERRUPTED=0

# -- pytest modes --------------------------------------------------------------------------------
selection() {
    case "$1" in
        quick) echo "tests/perf/test_smoke.py" ;;
        race) echo "tests/perf -m race" ;;
        standard) echo "tests/perf/test_load.py::test_standard" ;;
        stress) echo "tests/perf/test_load.py::test_stress" ;;
    esac
}

# has_reports DIR: true if a load run wrote its JSON report into DIR.
has_reports() { compgen -G "$1/[0-9]*_*.json" >/dev/null; }

# html_escape: stdin to stdout with &, < and > escaped.
html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

# summarize_mode MODE STEM EXIT_CODE: <stem>.csv (one line per load run, from the JSON reports
# in <stem>/) and <stem>.html (the run's index.html, its links resolved into <stem>/; or the end
# of the log when no load run wrote a report).
summarize_mode() {
    local mode="$1" stem="$2" rc="$3" dir
    dir="$(basename "$stem")"
    if has_reports "$stem"; then
        # From the stem's folder: the CSV's report paths are relative to where it lies.
        (cd "$(dirname "$stem")" && "${LOADGATE[@]}" summary "$dir" --format csv) >"$stem.csv"
    else
        : >"$stem.csv"
    fi
    if [[ -f "$stem/index.html" ]]; then
        sed "0,/<head>/s||<head><base href=\"$dir/\">|" "$stem/index.html" >"$stem.html"
    else
        {
            echo "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            echo "<title>loadgate $mode: no load run</title></head><body>"
            echo "<h1>loadgate $mode: no load test finished</h1>"
            echo "<p>pytest exited with code $rc before any load run wrote a report. The end of its output:</p>"
            echo "<pre>"
            tail -n 60 "$stem.log" | html_escape
            echo "</pre></body></html>"
        } >"$stem.html"
    fi
}

# run_pytest_mode MODE: run the mode's selection, write its reports; returns pytest's exit code.
# Sets LAST_STEM to the reports' stem.
run_pytest_mode() {
    local mode="$1" stem rc=0
    local -a sel args
    stem="$(new_stem "$mode")"
    LAST_STEM="$stem"
    read -r -a sel <<<"$(selection "$mode")"
    args=(-m pytest "${sel[@]}" -v -p no:cacheprovider
        --loadgate-report-dir "$stem" --junitxml "$stem/junit.xml")
    ((FULL)) && args+=(--loadgate-profile=full)
    [[ -n "$HOST" ]] && args+=(--loadgate-host "$HOST")
    args+=(${EXTRA[@]+"${EXTRA[@]}"})
    mkdir -p "$stem"
    {
        echo "== loadgate $mode: $(date '+%Y-%m-%d %H:%M:%S'), target ${HOST:-a shop booted by pytest}"
        echo "== .venv/bin/python ${args[*]}"
    } | tee "$stem.log"
    set +e
    # tee ignores Ctrl-C: pytest handles it (partial report, "interrupted" summary) and tee
    # must live on to record that.
    "$PY" "${args[@]}" 2>&1 | (trap '' INT; exec tee -a "$stem.log")
    rc=${PIPESTATUS[0]}
    set -e
    summarize_mode "$mode" "$stem" "$rc"
    echo "== loadgate $mode: pytest exit $rc; reports: ${stem#"$ROOT/"}.html ${stem#"$ROOT/"}.csv ${stem#"$ROOT/"}.log" \
        | tee -a "$stem.log"
    return "$rc"
}

run_single() {
    local rc=0
    trap 'INTERRUPTED=1' INT
    run_pytest_mode "$MODE" || rc=$?
    ((INTERRUPTED)) && exit 130
    ((rc == 0)) || exit 1
    exit 0
}

# write_all_summary STEM MODE:RC:MODE_STEM...: print every load run of the modes (one table,
# from their JSON reports) and each mode's pytest exit status; write <stem>.csv and <stem>.html.
write_all_summary() {
    local stem="$1" item mode rc mode_stem
    shift
    local -a dirs=() rows=()
    for item in "$@"; do
        mode="${item%%:*}"; rc="$(cut -d: -f2 <<<"$item")"; mode_stem="$(cut -d: -f3- <<<"$item")"
        has_reports "$mode_stem" && dirs+=("$(basename "$mode_stem")")
        if ((rc == 0)); then
            rows+=("<tr><td><a href=\"$(basename "$mode_stem").html\">$mode</a></td><td class=\"pass\">PASSED</td></tr>")
        else
            rows+=("<tr><td><a href=\"$(basename "$mode_stem").html\">$mode</a></td><td class=\"fail\">FAILED (exit $rc)</td></tr>")
        fi
    done
    if ((${#dirs[@]})); then
        (cd "$(dirname "$stem")" && "${LOADGATE[@]}" summary "${dirs[@]}") || true
        (cd "$(dirname "$stem")" && "${LOADGATE[@]}" summary "${dirs[@]}" --format csv) \
            >"$stem.csv" || true
    else
        echo "(no load run wrote a report)"
        : >"$stem.csv"
    fi
    echo
    for item in "$@"; do
        mode="${item%%:*}"; rc="$(cut -d: -f2 <<<"$item")"; mode_stem="$(cut -d: -f3- <<<"$item")"
        if ((rc == 0)); then
            printf '%-9s  ok (%s.log)\n' "$mode" "${mode_stem#"$ROOT/"}"
        else
            printf '%-9s  FAILED (pytest exit %s; %s.log)\n' "$mode" "$rc" "${mode_stem#"$ROOT/"}"
        fi
    done
    {
        echo "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>loadgate: all modes</title>"
        echo "<style>body { font-family: system-ui, sans-serif; margin: 2em; } td { padding: .3em .6em; }"
        echo ".pass { color: #137333; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }</style>"
        echo "</head><body><h1>loadgate: all modes</h1><table><tr><th>mode</th><th>result</th></tr>"
        printf '%s\n' "${rows[@]}"
        echo "</table><p>Each mode's page lists its load tests, checks and charts.</p></body></html>"
    } >"$stem.html"
}

run_all() {
    local mode rc any_failed=0 stem
    local -a results=()
    stem="$(new_stem all)"
    trap 'INTERRUPTED=1' INT
    for mode in quick standard race stress; do
        rc=0
        run_pytest_mode "$mode" || rc=$?
        results+=("$mode:$rc:$LAST_STEM")
        ((rc == 0)) || any_failed=1
        if ((INTERRUPTED)); then
            echo "$PROG: interrupted; skipping the remaining modes" >&2
            break
        fi
    done
    echo
    echo "============================ loadgate: all modes ============================"
    write_all_summary "$stem" "${results[@]}" | tee "$stem.log"
    echo "summary: ${stem#"$ROOT/"}.html ${stem#"$ROOT/"}.csv ${stem#"$ROOT/"}.log"
    ((INTERRUPTED)) && exit 130
    ((any_failed == 0)) || exit 1
    exit 0
}

# -- interactive ---------------------------------------------------------------------------------
SHOP_PID=""
LOCUST_PID=""

# alive PID: true while PID runs (a zombie, exited but not yet reaped, counts as gone).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
    [[ "$state" != Z* ]]
}

# stop_process PID NAME SIGNAL SECONDS: send SIGNAL, wait up to SECONDS, then SIGTERM (if
# SIGNAL was another one) for 5 s more, then SIGKILL; always reaps the process.
stop_process() {
    local pid="$1" name="$2" sig="$3" limit="$4" i
    [[ -n "$pid" ]] || return 0
    if kill "-$sig" "$pid" 2>/dev/null; then
        for ((i = 0; i < limit * 20; i++)); do
            alive "$pid" || break
            sleep 0.05
        done
        if alive "$pid" && [[ "$sig" != TERM ]]; then
            echo "$PROG: $name (pid $pid) still running ${limit} s after SIG$sig; sending SIGTERM" >&2
            kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                alive "$pid" || break
                sleep 0.05
            done
        fi
        if alive "$pid"; then
            echo "$PROG: $name (pid $pid) did not stop; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# Locust first (SIGINT: it writes its HTML report, prints its stats and exits), then the shop.
cleanup_interactive() {
    trap - INT TERM HUP
    stop_process "$LOCUST_PID" "Locust" INT 15
    LOCUST_PID=""
    stop_process "$SHOP_PID" "the shop" TERM 5
    SHOP_PID=""
    [[ -n "${TMP_DIR:-}" ]] && rm -rf "$TMP_DIR"
    return 0
}

run_interactive() {
    local stem target rc=0 port
    stem="$(new_stem interactive)"
    mkdir -p "$stem"
    TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/loadgate-interactive.XXXXXX")"
    trap cleanup_interactive EXIT
    trap 'INTERRUPTED=1' INT TERM HUP

    "$PY" "$HELPERS" port-free "$WEB_PORT" \
        || { echo "$PROG: choose another port with --web-port PORT" >&2; exit 1; }
    # Both servers run in process groups of their own: Ctrl-C reaches only this script, whose
    # trap stops Locust before the shop (no burst of connection errors at the end of the stats).
    if [[ -n "$HOST" ]]; then
        target="$HOST"
        echo "== target: $target (not booted here)"
    else
        port="$("$PY" "$HELPERS" free-port)"
        target="http://127.0.0.1:$port"
        echo "== booting the shop on $target (database: a temporary SQLite file)"
        DATABASE_URL="sqlite:///$TMP_DIR/shop.db" "$PY" "$HELPERS" exec --new-group -- \
            "$PY" -m demo_api --host 127.0.0.1 --port "$port" >"$stem/shop.log" 2>&1 &
        SHOP_PID=$!
        "$PY" "$HELPERS" wait-http "$target/health" --timeout 30 --pid "$SHOP_PID" \
            --log "$stem/shop.log" || { echo "$PROG: the shop did not start" >&2; exit 1; }
        echo "== shop ready (pid $SHOP_PID)"
        "$PY" "$HELPERS" seed "$target" --count 50 || exit 1
    fi

    echo "== starting Locust's web UI on http://127.0.0.1:$WEB_PORT (host $target)"
    "$PY" "$HELPERS" exec --new-group --default-sigint -- \
        "$ROOT/.venv/bin/locust" -f scripts/shop_locustfile.py \
        --web-host 127.0.0.1 --web-port "$WEB_PORT" --host "$target" \
        --html "$stem.html" --csv "$stem/locust" \
        > >(trap '' INT; exec tee "$stem.log") 2>&1 &
    LOCUST_PID=$!
    if ! "$PY" "$HELPERS" wait-http "http://127.0.0.1:$WEB_PORT/" --timeout 30 \
        --pid "$LOCUST_PID" --log "$stem.log"; then
        echo "$PROG: Locust's web UI did not start" >&2
        exit 1
    fi
    echo "== ready: open http://127.0.0.1:$WEB_PORT and press Start; Ctrl-C stops Locust and the shop"
    echo "== Locust pid $LOCUST_PID${SHOP_PID:+, shop pid $SHOP_PID}"

    # wait returns early (> 128) when Ctrl-C/SIGTERM/SIGHUP ran our trap; else Locust ended by itself.
    wait "$LOCUST_PID" || rc=$?
    if ((INTERRUPTED)); then
        echo
        echo "== stopping Locust and the shop"
        cleanup_interactive
        rc=0
    else
        LOCUST_PID=""
        echo "$PROG: Locust exited by itself with code $rc" >&2
        cleanup_interactive
    fi
    [[ -f "$stem/locust_stats.csv" ]] && cp "$stem/locust_stats.csv" "$stem.csv"
    echo "== stopped; reports: ${stem#"$ROOT/"}.html ${stem#"$ROOT/"}.csv ${stem#"$ROOT/"}.log (Locust's CSVs and the shop log in ${stem#"$ROOT/"}/)"
    ((rc == 0)) || exit 1
    exit 0
}

case "$MODE" in
    interactive) run_interactive ;;
    all) run_all ;;
    *) run_single ;;
esac
