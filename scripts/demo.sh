#!/usr/bin/env bash
# Runs a local diststore cluster of three nodes on 127.0.2.1-3. Multicast
# stays on the loopback interface: nothing leaves the machine. Ctrl-C
# stops the nodes cleanly (SIGTERM). JOIN=1 runs them as on a network
# without multicast: --multicast=false, each told of another by --join.
set -euo pipefail
if [ $# -gt 0 ]; then
	echo "usage: make demo (scripts/demo.sh takes no arguments; set NODES=N, JOIN=1 or DISTSTORED=PATH in the environment)" >&2
	exit 2
fi
cd "$(dirname "$0")/.."
bin=${DISTSTORED:-bin/diststored}
nodes=${NODES:-3}
dir=$(mktemp -d -t diststore-demo.XXXXXX)
pids=()

stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping nodes..."
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	echo "logs kept in $dir"
}
trap stop INT TERM EXIT

for i in $(seq 1 "$nodes"); do
	join=()
	if [ "${JOIN:-}" = 1 ]; then
		# Node 1 is told of node 2, every other node of node 1.
		seed=1
		[ "$i" = 1 ] && seed=2
		join=(--multicast=false --join "127.0.2.$seed")
	fi
	"$bin" --bind "127.0.2.$i" --interface lo --data-dir "$dir/node$i" "${join[@]}" \
		>"$dir/node$i.log" 2>&1 &
	pids+=($!)
done

for i in $(seq 1 "$nodes"); do
	for _ in $(seq 1 50); do
		curl -fsS -o /dev/null "http://127.0.2.$i:8181/readyz" 2>/dev/null && break
		sleep 0.1
	done
done

cat <<MSG
diststore demo: $nodes nodes on 127.0.2.1-$nodes, HTTP port 8181, logs in $dir$([ "${JOIN:-}" = 1 ] && echo ", no multicast: --join")

  curl -X POST --data-binary 'hello' http://127.0.2.1:8181/greeting
  curl http://127.0.2.3:8181/get/greeting
  curl http://127.0.2.2:8181/status
  open http://127.0.2.1:8181/ in a browser

Ctrl-C stops the cluster.
MSG
wait "${pids[@]}"
