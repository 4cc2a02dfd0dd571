#!/usr/bin/env bash
# Builds the real control plane the integration tests run against (etcd, kube-apiserver,
# kube-controller-manager) from Go modules pinned in this folder, into a cache directory outside
# the repository keyed by the pinned versions. Prints that directory. Only the first run builds
# (about 6-7 minutes on 2 cores); later runs return at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k8s_version=v1.34.2
etcd_version=v3.6.16
key=$(cat "$here/go.mod" "$here/etcd/go.mod" | sha256sum | cut -c1-8)
dir=${AIM_K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aim-engine/k8s-$k8s_version-etcd-$etcd_version-$key}
bins=(etcd kube-apiserver kube-controller-manager)

complete() {
    for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

if ! complete; then
    if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
    command -v go >/dev/null || {
        echo "build.sh: Go >= 1.26 is required to build the test control plane (etcd, kube-apiserver," \
            "kube-controller-manager) and none was found; see scripts/install-test-deps" >&2
        exit 1
    }
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "building etcd $etcd_version and Kubernetes $k8s_version into $dir (first run only)" >&2
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
    (cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
    (cd "$here/etcd" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    for b in "${bins[@]}"; do mv "$tmp/$b" "$dir/$b"; done
fi
echo "$dir"
