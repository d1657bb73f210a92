#!/usr/bin/env bash
# diststore's benchmark, run by `make bench`: the Go micro-benchmarks, then
# real diststored clusters on 127.0.2.N loaded by `diststore-bench`, each
# figure beside a baseline measured in the same run: durable writes beside
# a 3-member etcd cluster on 127.0.3.1-3 (Debian's etcd-server, loaded by
# diststore-bench-etcd, a module of its own under cmd/diststore-bench/etcd).
# It prints a table and writes bench-results.json.
#
# Everything runs in a private network namespace (unshare -rn) that the
# script enters by itself, with only a loopback interface: no packet leaves
# the machine. It exits non-zero only when the harness itself fails; a
# missed target is reported in the table, not an error.
#
# Environment (all optional):
#   GO                    go command (go)
#   BENCH_DURATION        length of each load figure (5s)
#   BENCH_READ_ROUNDS     rounds of each read figure, bare and diststore in turn (5)
#   BENCH_READ_ROUND      length of one such round (2s)
#   BENCH_WRITE_ROUNDS    rounds of each write figure, diststore and etcd in turn (3)
#   BENCH_WRITE_ROUND     length of one such round (3s)
#   BENCH_LATENCY_CONNS   connections of the latency figures (4)
#   BENCH_RESYNC_KEYS     keys of the resync figure (100000)
#   BENCH_RSS_KEYS        keys of the RSS figure (1000000)
#   BENCH_GO_BENCHTIME    -benchtime of the Go micro-benchmarks but BenchmarkWrite (200ms)
#   BENCH_WRITE_BENCHTIME -benchtime of cluster's BenchmarkWrite, run 3 times (3000x)
#   BENCH_IDLE_SECONDS    window of the idle-CPU figure, with and without a cluster key (20)
#   BENCH_ONLY            figures to run, a subset of "go reads misses writes resync rss scale"
#   BENCH_PPROF           1: profile the node during each read figure, into bin/bench-logs
#   BENCH_OUT             where the JSON goes (bench-results.json)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DUR=${BENCH_DURATION:-5s}
READ_ROUNDS=${BENCH_READ_ROUNDS:-5}
READ_DUR=${BENCH_READ_ROUND:-2s}
WRITE_ROUNDS=${BENCH_WRITE_ROUNDS:-3}
WRITE_DUR=${BENCH_WRITE_ROUND:-3s}
LAT_CONNS=${BENCH_LATENCY_CONNS:-4}
RESYNC_KEYS=${BENCH_RESYNC_KEYS:-100000}
RSS_KEYS=${BENCH_RSS_KEYS:-1000000}
GO_BENCHTIME=${BENCH_GO_BENCHTIME:-200ms}
GO_WRITE_BENCHTIME=${BENCH_WRITE_BENCHTIME:-3000x}
ONLY=${BENCH_ONLY:-go reads misses writes resync rss scale}
OUT=${BENCH_OUT:-bench-results.json}
NETNS_SETUP='ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo'

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# has FIGURE: whether BENCH_ONLY names it.
has() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------------------
# Outside the namespace: build (the namespace has no network to fetch
# modules with), then run this script again inside a new one.
if [ "${DISTSTORE_BENCH_IN_NETNS:-}" != 1 ]; then
	for tool in unshare ip curl timeout; do
		command -v "$tool" >/dev/null || die "$tool not found in PATH"
	done
	unshare -rn sh -c "$NETNS_SETUP && exec true" ||
		die "cannot create a private network namespace with \`unshare -rn\` (needs root or unprivileged user namespaces)"
	if has writes && ! command -v etcd >/dev/null; then
		# etcd for the write figures: Debian's etcd-server, never started
		# as a service (policy-rc.d refuses every start while it installs);
		# the bench starts its own members in the namespace.
		[ "$(id -u)" = 0 ] || die "etcd not found: the write figures need Debian's etcd-server (run make bench as root to install it, or: apt-get install etcd-server)"
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod +x /usr/sbin/policy-rc.d
		fi
		rc=0
		/usr/sbin/policy-rc.d etcd start >/dev/null 2>&1 || rc=$?
		[ "$rc" = 101 ] || die "/usr/sbin/policy-rc.d would let packages start services (exit $rc, want 101); not installing etcd-server"
		log "installing etcd-server (its service is not started)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >&2
	fi
	log "building bin/diststored bin/diststore bin/diststore-bench bin/diststore-baseline bin/diststore-bench-etcd"
	CGO_ENABLED=0 "$GO" build -trimpath -o bin/ ./cmd/diststored ./cmd/diststore ./cmd/diststore-bench ./cmd/diststore-baseline
	(cd cmd/diststore-bench/etcd && CGO_ENABLED=0 "$GO" build -trimpath -o ../../../bin/diststore-bench-etcd .)
	# Fetch what the micro-benchmarks' tests need while the network is here.
	unit=$("$GO" list ./... | grep -v /integration)
	"$GO" list -test -deps $unit >/dev/null
	export DISTSTORE_BENCH_IN_NETNS=1 DISTSTORE_BENCH_START=${DISTSTORE_BENCH_START:-$(date +%s)}
	exec unshare -rn sh -c "$NETNS_SETUP"' && exec "$0" "$@"' "$0" "$@"
fi

# ---------------------------------------------------------------------------
# Inside the namespace.
ifs=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//')
for i in $ifs; do
	[ "$i" = lo ] || die "refusing to run: interface $i is not loopback: not a private network namespace"
done
[ -n "$ifs" ] || die "no loopback interface"
export GOPROXY=off GOFLAGS=-mod=readonly # no network in here
# The nodes read DISTSTORE_* settings from the environment: none of the
# caller's may change what is measured.
start_time=${DISTSTORE_BENCH_START:-$(date +%s)}
for v in $(compgen -e | grep '^DISTSTORE_' || true); do unset "$v"; done

work=bin/bench-work
logs=bin/bench-logs
rm -rf "$work" "$logs"
mkdir -p "$work" "$logs"
pids=()

cleanup() {
	trap - EXIT INT TERM
	if [ ${#pids[@]} -gt 0 ]; then
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS WHAT CMD...: run CMD every 0.1 s until it succeeds; fail
# the harness after SECONDS.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

# start_node ADDR MCAST_PORT [FLAG...]: start diststored on ADDR:8181 with
# its own data dir and log; the pid is pid_<last octet>.
start_node() {
	local addr=$1 port=$2
	shift 2
	local n=${addr##*.}
	bin/diststored --bind "$addr" --interface lo --multicast-port "$port" \
		--data-dir "$work/node$n" "$@" >"$logs/node$n.log" 2>&1 &
	pids+=($!)
	eval "pid_$n=$!"
}

# stop_nodes: kill every node and process started so far (teardown between
# figures; the data is thrown away).
stop_nodes() {
	if [ ${#pids[@]} -gt 0 ]; then
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	pids=()
}

status() { curl -fsS --max-time 2 "http://$1:8181/status" | tr -d " \n\t"; }

# masters_of ADDR: the masters ADDR knows, one per line.
masters_of() { status "$1" | grep -o '"masters":\[[^]]*\]' | grep -o '[0-9][0-9.]*[0-9]'; }

# ready_with ADDR N: ADDR is ready and knows N synced masters.
ready_with() {
	local s
	s=$(status "$1") || return 1
	case $s in *'"ready":true'*) ;; *) return 1 ;; esac
	[ "$(printf '%s' "$s" | grep -o '"master":true,"synced":true' | wc -l)" -eq "$2" ]
}

# wait_cluster N_MASTERS ADDR...: every node is ready and sees the synced masters.
wait_cluster() {
	local m=$1
	shift
	for a in "$@"; do wait_for 30 "$a to be ready" ready_with "$a" "$m"; done
}

# bench ARGS...: diststore-bench --json, bounded; prints the JSON line.
bench() {
	timeout 900 bin/diststore-bench --timeout 10s --json "$@" ||
		die "diststore-bench $* failed"
}

# jnum FIELD JSON: the first number FIELD holds in the JSON (the top-level
# one: a nested preload comes last).
jnum() { printf '%s' "$2" | grep -o "\"$1\":[-0-9.e+]*" | head -n1 | cut -d: -f2; }

# calc EXPR: floating-point arithmetic, or a comparison (1 or 0).
calc() { awk "BEGIN { printf \"%.6g\", ($1) }"; }

# num EXPR: EXPR for the table: whole above 100, else 3 significant digits.
num() { awk "BEGIN { v = ($1); if (v >= 100 || v <= -100) printf \"%.0f\", v; else printf \"%.3g\", v }"; }

# jms FIELD JSON: a latency of the JSON, for the table.
jms() { num "$(jnum "$1" "$2")"; }

# check_run JSON WHAT: fail the harness when a load run had too many
# failed requests to mean anything (more than 1%).
check_run() {
	local json=$1 what=$2 req ok
	req=$(jnum requests "$json")
	ok=$(jnum ok "$json")
	[ "${req:-0}" -gt 0 ] || die "$what: no request was sent: $json"
	if [ "$(calc "$ok < 0.99 * $req")" = 1 ]; then
		die "$what: only $ok of $req requests succeeded: $json"
	fi
}

# check_all JSON WHAT N: fail the harness unless a preload sent N requests
# and every one succeeded: a key it did not write would read as missing.
check_all() {
	local json=$1 what=$2 n=$3
	[ "$(jnum requests "$json")" = "$n" ] && [ "$(jnum ok "$json")" = "$n" ] ||
		die "$what: want $n requests, all acknowledged: $json"
}

# cpu_ticks PID...: the user and system CPU time the processes used so far,
# in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
	local t=0 p f
	for p in "$@"; do
		read -ra f <"/proc/$p/stat"
		# Field 2, the command, holds no space here (diststored, etcd,
		# diststore-baseline): fields
		# 14 and 15 are at indexes 13 and 14.
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}

# median N...: the median of the numbers.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# Results: one row per figure.
rows_name=() rows_value=() rows_unit=() rows_base=() rows_ratio=() rows_target=() rows_met=() rows_note=()
# row NAME VALUE UNIT BASELINE RATIO TARGET MET NOTE ("" for none)
row() {
	rows_name+=("$1") rows_value+=("$2") rows_unit+=("$3") rows_base+=("$4")
	rows_ratio+=("$5") rows_target+=("$6") rows_met+=("$7") rows_note+=("$8")
	printf '   %s: %s %s%s%s\n' "$1" "$2" "$3" "${4:+ (baseline $4${5:+, ratio $5})}" "${7:+ target $6: $7}" >&2
}
# met COND: yes or no.
met() { if [ "$(calc "$1")" = 1 ]; then echo yes; else echo no; fi; }

# profile ADDR NAME SECONDS: a CPU profile of the node serving pprof on
# ADDR, in the background, into $logs/NAME.pprof.
profile() {
	curl -fsS --max-time $(($3 + 10)) -o "$logs/$2.pprof" "http://$1/debug/pprof/profile?seconds=$3" &
	prof_pid=$!
}

# ---------------------------------------------------------------------------
if has go; then
	log "Go micro-benchmarks but BenchmarkWrite (-benchtime $GO_BENCHTIME)"
	unit=$("$GO" list ./... | grep -v /integration)
	"$GO" test -timeout 5m -run '^$' -bench . -skip '^BenchmarkWrite$' -benchmem -benchtime "$GO_BENCHTIME" $unit 2>&1 |
		tee "$logs/gobench.txt" >&2 || die "the Go micro-benchmarks failed"
	log "BenchmarkWrite, durable and not (-benchtime $GO_WRITE_BENCHTIME, 3 runs)"
	"$GO" test -timeout 5m -run '^$' -bench '^BenchmarkWrite$' -benchmem -benchtime "$GO_WRITE_BENCHTIME" -count 3 ./cluster/ 2>&1 |
		tee -a "$logs/gobench.txt" >&2 || die "BenchmarkWrite failed"
	# wps NAME: the median writes/s of BenchmarkWrite/NAME's three runs.
	wps() {
		awk -v b="$1" '$1 ~ "^BenchmarkWrite/"b"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "writes/s") print $i }' \
			"$logs/gobench.txt" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
	}
	d64=$(wps 'durable=true/clients=64')
	n64=$(wps 'durable=false/clients=64')
	[ -n "$d64" ] && [ -n "$n64" ] || die "no BenchmarkWrite clients=64 figures in the Go benchmark output"
	row "durable writes/s at 64 clients vs without fsync (in-process, go bench)" "$(num "$d64")" "writes/s" \
		"$(num "$n64")" "$(num "$d64 / $n64")" ">= 0.5x" "$(met "$d64 / $n64 >= 0.5")" \
		"cluster BenchmarkWrite, 3 nodes in one process, fake network, median of 3 runs of -benchtime $GO_WRITE_BENCHTIME"
fi

# ---------------------------------------------------------------------------
if has reads || has writes; then
	log "reads and writes: 3 nodes on 127.0.2.1-3, bare baseline on 127.0.2.100"
	pprof_flag=()
	if [ "${BENCH_PPROF:-}" = 1 ]; then pprof_flag=(--pprof-addr 127.0.0.1:6060); fi
	start_node 127.0.2.1 4901 "${pprof_flag[@]}"
	start_node 127.0.2.2 4901
	start_node 127.0.2.3 4901
	wait_cluster 2 127.0.2.1 127.0.2.2 127.0.2.3
	mapfile -t ms < <(masters_of 127.0.2.1)
	reader=127.0.2.1
	case " ${ms[*]} " in *" $reader "*) ;; *) die "127.0.2.1 is not a master (masters: ${ms[*]})" ;; esac
	nonmaster=
	for a in 127.0.2.1 127.0.2.2 127.0.2.3; do
		case " ${ms[*]} " in *" $a "*) ;; *) nonmaster=$a ;; esac
	done
	[ -n "$nonmaster" ] || die "no non-master among 127.0.2.1-3 (masters: ${ms[*]})"
fi

if has reads; then
	bin/diststore-baseline --addr 127.0.2.100:8181 --keys 1000 >"$logs/baseline.log" 2>&1 &
	pids+=($!)
	baseline_pid=$!
	wait_for 10 "the baseline" curl -fsS --max-time 1 http://127.0.2.100:8181/get/bench-0
	j=$(bench --op put --keys 1000 --requests 1000 --conns 16 "http://$reader:8181")
	check_all "$j" "preloading 1000 keys" 1000
	for op in getlocal get; do
		# Rounds of bare and diststore in turn, so that a noisy neighbour
		# on a shared machine weighs on both alike; the ratio is of all
		# rounds' requests over their time, each round's in the note.
		breq=0 bsec=0 dreq=0 dsec=0 ratios=
		for round in $(seq 1 "$READ_ROUNDS"); do
			b=$(bench --op "$op" --keys 1000 --conns 50 --duration "$READ_DUR" http://127.0.2.100:8181)
			check_run "$b" "baseline $op"
			prof_pid=
			if [ "${BENCH_PPROF:-}" = 1 ] && [ "$round" = 1 ]; then profile 127.0.0.1:6060 "$op" 2; fi
			d=$(bench --op "$op" --keys 1000 --conns 50 --duration "$READ_DUR" "http://$reader:8181")
			check_run "$d" "$op"
			if [ -n "$prof_pid" ]; then wait "$prof_pid" || log "   no profile of $op"; fi
			breq=$(calc "$breq + $(jnum requests "$b")") bsec=$(calc "$bsec + $(jnum seconds "$b")")
			dreq=$(calc "$dreq + $(jnum requests "$d")") dsec=$(calc "$dsec + $(jnum seconds "$d")")
			ratios="$ratios $(calc "$(jnum req_per_sec "$d") / $(jnum req_per_sec "$b")")"
			log "   $op round $round: bare $(num "$(jnum req_per_sec "$b")") req/s, diststore $(num "$(jnum req_per_sec "$d")") req/s"
		done
		# Issue 11: GET /getlocal keeps at least 0.9x the bare server.
		want=0.85
		if [ "$op" = getlocal ]; then want=0.9; fi
		bv=$(calc "$breq / $bsec")
		dv=$(calc "$dreq / $dsec")
		ratio=$(calc "$dv / $bv")
		row "GET /$op of a local key, 50 conns, 1 of 3 nodes" "$(num "$dv")" "req/s" "$(num "$bv")" \
			"$(num "$ratio")" ">= ${want}x bare" "$(met "$ratio >= $want")" \
			"$READ_ROUNDS rounds of $READ_DUR each, bare and diststore in turn; value and baseline: all rounds' requests over their time, ratio: of the two (each round's:$ratios); last round p50 $(jms p50_ms "$d") ms (bare $(jms p50_ms "$b") ms), p99 $(jms p99_ms "$d") ms (bare $(jms p99_ms "$b") ms)"
	done
fi

# start_etcd: a 3-member etcd cluster on 127.0.3.1-3 (client port 2379,
# peer port 2380), WAL fsync on as by default; the pids are epid_1..3.
start_etcd() {
	local cluster=e1=http://127.0.3.1:2380,e2=http://127.0.3.2:2380,e3=http://127.0.3.3:2380 i
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$work/etcd$i" \
			--listen-client-urls "http://127.0.3.$i:2379" --advertise-client-urls "http://127.0.3.$i:2379" \
			--listen-peer-urls "http://127.0.3.$i:2380" --initial-advertise-peer-urls "http://127.0.3.$i:2380" \
			--initial-cluster "$cluster" --initial-cluster-token diststore-bench --initial-cluster-state new \
			--logger zap --log-outputs stderr --log-level warn >"$logs/etcd$i.log" 2>&1 &
		pids+=($!)
		eval "epid_$i=$!"
	done
	for i in 1 2 3; do
		wait_for 30 "etcd member 127.0.3.$i to be healthy" curl -fsS --max-time 1 "http://127.0.3.$i:2379/health"
	done
}

# etcd_bench ARGS...: diststore-bench-etcd --json, bounded; prints the JSON line.
etcd_bench() {
	timeout 900 bin/diststore-bench-etcd --timeout 10s --json "$@" ||
		die "diststore-bench-etcd $* failed"
}

writes_table=
if has writes; then
	log "durable writes: 3 diststore nodes (through the non-master $nonmaster) beside 3 etcd members on 127.0.3.1-3"
	start_etcd
	etcd_urls=(http://127.0.3.1:2379 http://127.0.3.2:2379 http://127.0.3.3:2379)
	npids=("$pid_1" "$pid_2" "$pid_3")
	epids=("$epid_1" "$epid_2" "$epid_3")
	hz=$(getconf CLK_TCK)
	etcd_version=$(etcd --version 2>/dev/null | awk '/etcd Version/ { print $3 }')
	writes_table="| clients | diststore writes/s | etcd writes/s | ratio | CPU per write, diststore | CPU per write, etcd |
| ---: | ---: | ---: | ---: | ---: | ---: |"
	for c in 1 8 64; do
		# Rounds of diststore and etcd in turn, so that a noisy neighbour
		# weighs on both alike. Rates: all rounds' writes over their time;
		# p99: the median of the rounds'; CPU: every process of the
		# cluster (user + system, /proc) over the writes acknowledged.
		dreq=0 dsec=0 dok=0 dticks=0 ereq=0 esec=0 eok=0 eticks=0 dp99s=() ep99s=()
		for round in $(seq 1 "$WRITE_ROUNDS"); do
			t0=$(cpu_ticks "${npids[@]}")
			d=$(bench --op put --prefix "w$c-$round-" --keys 1000000000 --conns "$c" --duration "$WRITE_DUR" "http://$nonmaster:8181")
			t1=$(cpu_ticks "${npids[@]}")
			check_run "$d" "diststore writes at $c clients"
			t2=$(cpu_ticks "${epids[@]}")
			e=$(etcd_bench --prefix "w$c-$round-" --conns "$c" --duration "$WRITE_DUR" "${etcd_urls[@]}")
			t3=$(cpu_ticks "${epids[@]}")
			check_run "$e" "etcd writes at $c clients"
			dreq=$(calc "$dreq + $(jnum requests "$d")") dsec=$(calc "$dsec + $(jnum seconds "$d")")
			dok=$((dok + $(jnum ok "$d"))) dticks=$((dticks + t1 - t0)) dp99s+=("$(jnum p99_ms "$d")")
			ereq=$(calc "$ereq + $(jnum requests "$e")") esec=$(calc "$esec + $(jnum seconds "$e")")
			eok=$((eok + $(jnum ok "$e"))) eticks=$((eticks + t3 - t2)) ep99s+=("$(jnum p99_ms "$e")")
			log "   $c client(s), round $round: diststore $(num "$(jnum req_per_sec "$d")") writes/s (p99 $(jms p99_ms "$d") ms), etcd $(num "$(jnum req_per_sec "$e")") writes/s (p99 $(jms p99_ms "$e") ms)"
		done
		dv=$(calc "$dreq / $dsec") ev=$(calc "$ereq / $esec") ratio=$(calc "$dreq / $dsec / ($ereq / $esec)")
		dp99=$(median "${dp99s[@]}") ep99=$(median "${ep99s[@]}")
		dcpu=$(calc "1e6 * $dticks / $hz / $dok") ecpu=$(calc "1e6 * $eticks / $hz / $eok")
		case $c in 1) want=1.0 ;; 8) want=1.5 ;; *) want=2 ;; esac
		plural=$([ "$c" = 1 ] || echo s)
		row "durable writes vs etcd, $c client$plural" "$(num "$dv")" "writes/s" "$(num "$ev")" "$(num "$ratio")" \
			">= ${want}x etcd" "$(met "$ratio >= $want")" \
			"3 diststore nodes (POST of unique keys, 100 B, through the non-master; both masters fsync before the 2xx) beside 3 etcd $etcd_version members (Put, WAL fsync), $WRITE_ROUNDS rounds of $WRITE_DUR each in turn; p99 $(num "$dp99") ms (etcd $(num "$ep99") ms, medians of the rounds); CPU per write $(num "$dcpu") µs (etcd $(num "$ecpu") µs), every process of the cluster"
		writes_table="$writes_table
| $c | $(num "$dv") (p99 $(num "$dp99") ms) | $(num "$ev") (p99 $(num "$ep99") ms) | $(num "$ratio") | $(num "$dcpu") µs | $(num "$ecpu") µs |"
		if [ "$c" = 64 ]; then
			row "p99 of a durable write at 64 clients vs etcd" "$(num "$dp99")" "ms" "$(num "$ep99")" "$(num "$dp99 / $ep99")" \
				"<= etcd's" "$(met "$dp99 <= $ep99")" "medians of the rounds' p99"
			w64_cpu=$dcpu e64_cpu=$ecpu
		fi
	done
	# The bare cost of a POST: diststore-baseline keeps it in memory.
	if [ -z "${baseline_pid:-}" ]; then
		bin/diststore-baseline --addr 127.0.2.100:8181 --keys 1000 >"$logs/baseline.log" 2>&1 &
		pids+=($!)
		baseline_pid=$!
		wait_for 10 "the baseline" curl -fsS --max-time 1 http://127.0.2.100:8181/get/bench-0
	fi
	t0=$(cpu_ticks "$baseline_pid")
	b=$(bench --op put --prefix bp- --keys 1000000000 --conns 64 --duration "$WRITE_DUR" http://127.0.2.100:8181)
	t1=$(cpu_ticks "$baseline_pid")
	check_run "$b" "bare POST"
	bcpu=$(calc "1e6 * ($t1 - $t0) / $hz / $(jnum ok "$b")")
	row "CPU per acknowledged write at 64 clients, all 3 nodes" "$(num "$w64_cpu")" "µs" "$(num "$bcpu") µs" \
		"$(num "$w64_cpu / $bcpu")" "" "" \
		"user + system time of the 3 nodes (/proc) over the writes acknowledged; baseline: diststore-baseline's per-request CPU for a bare POST kept in memory, 64 conns, $(num "$(jnum req_per_sec "$b")") req/s; etcd's 3 members: $(num "$e64_cpu") µs per write"
	writes_table="$writes_table

Bare POST (diststore-baseline, a map in memory, 64 conns): $(num "$bcpu") µs of CPU per request, $(num "$(jnum req_per_sec "$b")") req/s."
	printf '%s\n' "$writes_table" >&2
fi
stop_nodes

# ---------------------------------------------------------------------------

# miss_run LABEL MCAST_PORT [FLAG...]: 10 nodes on 127.0.2.11-20 started with
# FLAGs; measures their idle CPU, the 404 of a key no node holds and the
# first read of a key only the masters hold. Sets idle_pct (percent of a
# core per node), miss_p50, miss_p99, miss_rps, first_p50, first_p99,
# first_rps, first_n.
miss_run() {
	local label=$1 port=$2
	shift 2
	log "misses ($label): 10 nodes on 127.0.2.11-20"
	local ten=() i
	for i in $(seq 11 20); do
		ten+=("127.0.2.$i")
		start_node "127.0.2.$i" "$port" "$@"
	done
	wait_cluster 2 "${ten[@]}"
	local npids=()
	for i in $(seq 11 20); do npids+=("$(eval echo "\$pid_$i")"); done
	# Idle: heartbeats, the masters' digest checks, nothing else. The
	# window is the measurement, not a wait for a condition.
	local t0 t1 hz=$(getconf CLK_TCK) idle_secs=${BENCH_IDLE_SECONDS:-20}
	t0=$(cpu_ticks "${npids[@]}")
	sleep "$idle_secs"
	t1=$(cpu_ticks "${npids[@]}")
	idle_pct=$(calc "100 * ($t1 - $t0) / $hz / $idle_secs / 10")

	local ms urls=() a j n=10000 remote=0 r u
	mapfile -t ms < <(masters_of 127.0.2.11)
	for a in "${ten[@]}"; do
		case " ${ms[*]} " in *" $a "*) ;; *) urls+=("http://$a:8181") ;; esac
	done
	[ ${#urls[@]} -eq 8 ] || die "want 8 non-masters, have ${#urls[@]} (masters: ${ms[*]})"

	j=$(bench --op miss --conns "$LAT_CONNS" --duration "$DUR" "${urls[@]}")
	check_run "$j" "misses ($label)"
	miss_p50=$(jnum p50_ms "$j") miss_p99=$(jnum p99_ms "$j") miss_rps=$(jnum req_per_sec "$j")

	j=$(bench --op put --prefix fg- --keys $n --requests $n --conns 16 "http://${ms[0]}:8181")
	check_all "$j" "preloading $n keys through a master ($label)" "$n"
	j=$(bench --op first-get --prefix fg- --keys $n --conns "$LAT_CONNS" --duration 60s "${urls[@]}")
	check_run "$j" "first reads ($label)"
	[ "$(jnum requests "$j")" -eq $n ] || die "first-get ($label) read $(jnum requests "$j") of $n keys"
	# Every read must have been a fetch from the cluster, not a local hit.
	for u in "${urls[@]}"; do
		a=${u#http://}
		r=$(status "${a%:*}" | grep -o '"reads_remote":[0-9]*' | cut -d: -f2)
		remote=$((remote + ${r:-0}))
	done
	[ "$remote" -eq $n ] || die "first-get ($label): the non-masters fetched $remote keys from the cluster, want $n"
	first_p50=$(jnum p50_ms "$j") first_p99=$(jnum p99_ms "$j") first_rps=$(jnum req_per_sec "$j") first_n=$n
	stop_nodes
}

if has misses; then
	miss_run "no cluster key" 4902
	open_idle=$idle_pct open_m50=$miss_p50 open_m99=$miss_p99 open_f50=$first_p50 open_f99=$first_p99
	note="$LAT_CONNS conns over the 8 non-masters, $(num "$miss_rps") req/s; the original waited --multicast-timeout (1 s)"
	row "404 for a key no node holds, 10 nodes: p50" "$(num "$miss_p50")" "ms" "" "" "" "" "$note"
	row "404 for a key no node holds, 10 nodes: p99" "$(num "$miss_p99")" "ms" "" "" "<= 3 ms" "$(met "$miss_p99 <= 3")" "$note"
	note="each of $first_n keys held by the masters read once, $LAT_CONNS conns over the 8 non-masters, $(num "$first_rps") req/s"
	row "first GET /get of a key only the masters hold: p50" "$(num "$first_p50")" "ms" "" "" "<= 0.7 ms" "$(met "$first_p50 <= 0.7")" "$note"
	row "first GET /get of a key only the masters hold: p99" "$(num "$first_p99")" "ms" "" "" "<= 3 ms" "$(met "$first_p99 <= 3")" "$note"

	# The same with a cluster key: every datagram sealed and opened, every
	# node-to-node request signed and verified.
	printf '%s\n' "$(bin/diststore keygen)" >"$work/cluster.key"
	chmod 600 "$work/cluster.key"
	miss_run "cluster key" 4905 --cluster-key-file "$work/cluster.key"
	note="the same 10-node figures with --cluster-key-file, run after those without; baseline: without a key"
	for f in "404 p50:miss_p50:open_m50" "404 p99:miss_p99:open_m99" "first GET p50:first_p50:open_f50" "first GET p99:first_p99:open_f99"; do
		IFS=: read -r name cur base <<<"$f"
		row "with a cluster key: $name" "$(num "${!cur}")" "ms" "$(num "${!base}") ms" "$(num "${!cur} / ${!base}")" \
			"<= 1.10x" "$(met "${!cur} <= 1.10 * ${!base}")" "$note"
	done
	row "with a cluster key: idle CPU per node" "$(num "$idle_pct")" "% of a core" "$(num "$open_idle") %" \
		"$(num "$idle_pct / $open_idle")" "<= 1.10x" "$(met "$idle_pct <= 1.10 * $open_idle")" \
		"10 idle nodes for ${BENCH_IDLE_SECONDS:-20}s each way (heartbeats, digest checks), user+system time from /proc"
fi

# ---------------------------------------------------------------------------
# log_ms TIME: a log line's time= in milliseconds since the epoch.
log_ms() { date -d "$1" +%s%3N; }

if has resync; then
	log "resync: $RESYNC_KEYS keys on 127.0.2.21-22, then 127.0.2.23 takes over a master's seat"
	start_node 127.0.2.21 4903
	start_node 127.0.2.22 4903
	wait_cluster 2 127.0.2.21 127.0.2.22
	j=$(bench --op put --prefix r- --keys "$RESYNC_KEYS" --requests "$RESYNC_KEYS" --conns 64 --duration 10m \
		http://127.0.2.21:8181 http://127.0.2.22:8181)
	check_all "$j" "preloading $RESYNC_KEYS keys" "$RESYNC_KEYS"
	log "   preloaded at $(num "$(jnum req_per_sec "$j")") writes/s"
	pprof_flag=()
	if [ "${BENCH_PPROF:-}" = 1 ]; then pprof_flag=(--pprof-addr 127.0.0.1:6061); fi
	start_node 127.0.2.23 4903 "${pprof_flag[@]}"
	wait_cluster 2 127.0.2.23
	prof_pid=
	if [ "${BENCH_PPROF:-}" = 1 ]; then profile 127.0.0.1:6061 resync 3; fi
	kill -TERM "$pid_21"
	wait_for 60 "127.0.2.23 to hold every key" grep -q 'msg="master holds every key"' "$logs/node23.log"
	line=$(grep 'msg="master holds every key"' "$logs/node23.log" | tail -n1)
	applied=$(printf '%s' "$line" | grep -o 'applied=[0-9]*' | cut -d= -f2)
	took=$(printf '%s' "$line" | grep -o 'took=[^ ]*' | cut -d= -f2)
	# The last "masters changed" before it: the handover.
	times=$(awk '/msg="masters changed"/ { t = $1 } /msg="master holds every key"/ { print t, $1; exit }' "$logs/node23.log")
	case $times in time=*" time="*) ;; *) die "no \"masters changed\" line before the sync in node23.log" ;; esac
	set -- $times
	t0=$(log_ms "${1#time=}")
	t1=$(log_ms "${2#time=}")
	[ "$applied" -eq "$RESYNC_KEYS" ] || die "the new master applied $applied of $RESYNC_KEYS keys"
	secs=$(calc "($t1 - $t0) / 1000")
	[ "$(calc "$secs > 0")" = 1 ] || secs=0.001 # within one millisecond
	rate=$(calc "$applied / $secs")
	# The per-key way over the same data, from the master that stays.
	c=$(bench --op copy-per-key --duration "$DUR" http://127.0.2.22:8181)
	check_run "$c" "copy-per-key"
	per=$(jnum keys_per_sec "$c")
	row "resync of a new empty master, $RESYNC_KEYS keys of 100 B (GET /dump)" "$(num "$rate")" "keys/s" \
		"$(num "$per")" "$(num "$rate / $per")" ">= 50x per-key" "$(met "$rate / $per >= 50")" \
		"\"masters changed\" to \"master holds every key\": $(calc "$secs") s (took=$took); baseline: GET /list + GET /getlocal per key on 1 conn, $(jnum ok "$c") of $(jnum listed "$c") keys copied in $DUR and extrapolated"
	wait_for 30 "127.0.2.21 to exit after its handover" sh -c "! kill -0 $pid_21"
	if [ -n "$prof_pid" ]; then wait "$prof_pid" || log "   no profile of the resync"; fi
	stop_nodes
fi

# ---------------------------------------------------------------------------
if has rss; then
	log "RSS: one node on 127.0.2.31 with $RSS_KEYS keys of 100 B"
	start_node 127.0.2.31 4904
	wait_cluster 1 127.0.2.31
	j=$(bench --op put --prefix bench- --keys "$RSS_KEYS" --requests "$RSS_KEYS" --conns 64 --duration 10m http://127.0.2.31:8181)
	check_all "$j" "preloading $RSS_KEYS keys" "$RSS_KEYS"
	log "   preloaded at $(num "$(jnum req_per_sec "$j")") writes/s"
	sleep 2 # let the write burst's garbage be collected
	st=/proc/$pid_31/status
	rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "$st")
	anon=$(awk '/^RssAnon:/ { print $2 * 1024 }' "$st")
	file=$(awk '/^RssFile:/ { print $2 * 1024 }' "$st")
	sbytes=$(curl -fsS --max-time 5 http://127.0.2.31:8181/metrics | awk '$1 == "diststore_store_bytes" { print $2 }')
	# Keys bench-0 .. bench-<n-1> and their 100-byte values.
	raw=$(awk -v n="$RSS_KEYS" 'BEGIN {
		t = 0; lo = 0; d = 1; hi = 10
		while (lo < n) { top = (hi < n ? hi : n); t += (top - lo) * (6 + d + 100); lo = top; hi *= 10; d++ }
		printf "%d", t }')
	mib() { num "$1 / 1048576"; }
	row "RSS of a master holding $RSS_KEYS keys of 100 B" "$(mib "$rss")" "MiB" "$(mib "$raw")" \
		"$(num "$rss / $raw")" "<= 2x raw" "$(met "$rss / $raw <= 2")" \
		"baseline: raw key+value bytes; RssAnon $(mib "$anon") MiB, RssFile (bbolt mmap: the pages read through it since its last remap) $(mib "$file") MiB; diststore_store_bytes $(mib "${sbytes:-0}") MiB"
	row "bbolt file of that master (diststore_store_bytes)" "$(mib "${sbytes:-0}")" "MiB" "$(mib "$raw")" \
		"$(num "${sbytes:-0} / $raw")" "" "" \
		"what RssFile grows to once every page of the file has been read through the mmap"
	stop_nodes
fi

# ---------------------------------------------------------------------------
scale_table=
if has scale; then
	log "scale: the simulation of 10, 30 and 100 nodes on the in-memory network"
	DISTSTORE_SIM=full "$GO" test -count=1 -timeout 10m -run '^TestSimulation$' -v ./cluster/ >"$logs/scale.txt" 2>&1 ||
		die "the scale simulation failed: see $logs/scale.txt"
	scale_table=$(sed -n 's/^ *\(| .*|\)$/\1/p' "$logs/scale.txt")
	[ -n "$scale_table" ] || die "no table in the scale simulation's output: $logs/scale.txt"
	printf '%s\n' "$scale_table" >&2
fi

# ---------------------------------------------------------------------------
# The table and the JSON.
total=$(($(date +%s) - start_time))
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
machine="$(nproc) CPUs, ${cpu:-unknown CPU}, $("$GO" env GOVERSION), $(uname -sr)"
echo
echo "diststore benchmark: $machine; ${total}s"
{
	printf 'figure\tvalue\tbaseline\tratio\ttarget\tmet?\n'
	for i in "${!rows_name[@]}"; do
		printf '%s\t%s %s\t%s\t%s\t%s\t%s\n' "${rows_name[$i]}" "${rows_value[$i]}" "${rows_unit[$i]}" \
			"${rows_base[$i]:-—}" "${rows_ratio[$i]:-—}" "${rows_target[$i]:-—}" "${rows_met[$i]:-—}"
	done
} | column -t -s "$(printf '\t')"
echo
for i in "${!rows_name[@]}"; do
	if [ -n "${rows_note[$i]}" ]; then printf -- '- %s: %s\n' "${rows_name[$i]}" "${rows_note[$i]}"; fi
done

# The same table in Markdown, with the scale table, as docs/performance.md and
# docs/scale.md show them.
md=${OUT%.json}.md
{
	echo "On $machine, $(date -u +%Y-%m-%d) (\`make bench\`, ${total}s):"
	echo
	echo "| figure | value | baseline | ratio | target |"
	echo "| --- | ---: | ---: | ---: | --- |"
	for i in "${!rows_name[@]}"; do
		t=${rows_target[$i]}
		[ -z "$t" ] || t="$t: $([ "${rows_met[$i]}" = yes ] && echo met || echo '**not met**')"
		printf '| %s | %s %s | %s | %s | %s |\n' "${rows_name[$i]}" "${rows_value[$i]}" "${rows_unit[$i]}" \
			"${rows_base[$i]}" "${rows_ratio[$i]}" "$t"
	done
	if [ -n "$writes_table" ]; then
		echo
		echo "Durable writes beside etcd, in the same run:"
		echo
		printf '%s\n' "$writes_table"
	fi
	if [ -n "$scale_table" ]; then
		echo
		printf '%s\n' "$scale_table"
	fi
} >"$md"

missed=()
for i in "${!rows_name[@]}"; do
	[ "${rows_met[$i]}" != no ] || missed+=("${rows_name[$i]}: ${rows_value[$i]} ${rows_unit[$i]}, target ${rows_target[$i]}")
done
echo
if [ ${#missed[@]} -gt 0 ]; then
	echo "missed targets (${#missed[@]}):"
	printf -- '  - %s\n' "${missed[@]}"
else
	echo "every target met"
fi

# jstr TEXT: TEXT as a JSON string.
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
# jval TEXT: TEXT as a JSON number, null if empty, or a string if it is
# not a number (a baseline given with its unit, "3.85 ms").
jval() {
	if [ -z "$1" ]; then
		printf 'null'
	elif printf '%s' "$1" | grep -Eq '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'; then
		printf '%s' "$1"
	else
		jstr "$1"
	fi
}
{
	printf '{"machine":%s,"nproc":%s,"go":%s,"seconds":%s,"figures":[' \
		"$(jstr "$machine")" "$(nproc)" "$(jstr "$("$GO" env GOVERSION)")" "$total"
	for i in "${!rows_name[@]}"; do
		if [ "$i" -gt 0 ]; then printf ','; fi
		case ${rows_met[$i]} in yes) met_json=true ;; no) met_json=false ;; *) met_json=null ;; esac
		printf '{"figure":%s,"value":%s,"unit":%s,"baseline":%s,"ratio":%s,"target":%s,"met":%s,"note":%s}' \
			"$(jstr "${rows_name[$i]}")" "$(jval "${rows_value[$i]}")" "$(jstr "${rows_unit[$i]}")" \
			"$(jval "${rows_base[$i]}")" "$(jval "${rows_ratio[$i]}")" "$(jstr "${rows_target[$i]}")" \
			"$met_json" "$(jstr "${rows_note[$i]}")"
	done
	printf ']}\n'
} >"$OUT"
echo
echo "results written to $OUT and $md; logs in $logs"
