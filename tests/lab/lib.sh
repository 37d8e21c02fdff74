# Shared by tests/lab/lab and tests/lab/controller (sourced, not run).
# Paths of the lab and the cache keys of its cached roots.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_RUN=${BO_LAB_RUN:-/run/bo-lab}             # runtime state: key, inventory, pids, logs
LAB_CACHE=${BO_LAB_CACHE:-/var/cache/bo-microvm} # cached roots, one dir per <thing>-<key>
LAB_HOSTS=${BO_LAB_HOSTS:-/var/lib/bo-lab}     # per-hypervisor writable layers (overlayfs)

# lab_key NAME: the cache key of recipe NAME: the first 12 hex digits of the
# sha256 of tests/lab/recipes/NAME.sh and, if it exists, of every file under
# tests/lab/NAME/ (the guest's init and inittab). Any edit makes a new key.
lab_key() {
	local name=$1
	{
		cat "$LAB_HERE/recipes/$name.sh"
		if [ -d "$LAB_HERE/$name" ]; then
			(cd "$LAB_HERE/$name" && find . -type f | LC_ALL=C sort | xargs cat)
		fi
	} | sha256sum | cut -c1-12
}

# lab_cache_dir NAME: where the cached root of recipe NAME lives.
lab_cache_dir() {
	echo "$LAB_CACHE/$1-$(lab_key "$1")"
}

lab_die() {
	echo "lab: $*" >&2
	exit 1
}
