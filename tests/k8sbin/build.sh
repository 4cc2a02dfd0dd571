#!/usr/bin/env bash
# Builds the real parts the integration tests run against from Go modules pinned in this folder,
# into cache directories outside the repository keyed by the pinned modules, and prints where:
#
#   build.sh          etcd, kube-apiserver, kube-controller-manager; prints their directory
#                     (first run about 5-6 minutes on 2 cores)
#   build.sh helm     helm, to render and install the chart in tests; prints the binary (first run ~2 min)
#   build.sh kubectl  kubectl of the same Kubernetes release, for the README walk-through test;
#                     prints the binary (first run ~2 min, less after the control plane)
#
# Later runs return at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aim-engine

need_go() {
    if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
    command -v go >/dev/null || {
        echo "build.sh: Go >= 1.26 is required to build the test control plane (etcd, kube-apiserver," \
            "kube-controller-manager) and helm, and none was found; see scripts/install-test-deps" >&2
        exit 1
    }
}

if [ "${1:-}" = "helm" ]; then
    helm_version=v3.22.0
    key=$(sha256sum <"$here/helm/go.mod" | cut -c1-8)
    dir=${AIM_HELM_BIN_DIR:-$cache/helm-$helm_version-$key}
    if [ ! -x "$dir/helm" ]; then
        need_go
        mkdir -p "$dir"
        echo "building helm $helm_version into $dir (first run only)" >&2
        (cd "$here/helm" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir/.helm.tmp" \
            helm.sh/helm/v3/cmd/helm)
        mv "$dir/.helm.tmp" "$dir/helm"
    fi
    echo "$dir/helm"
    exit 0
fi

k8s_version=v1.34.2
etcd_version=v3.6.16
version_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"

if [ "${1:-}" = "kubectl" ]; then
    key=$(sha256sum <"$here/go.mod" | cut -c1-8)
    dir=${AIM_KUBECTL_BIN_DIR:-$cache/kubectl-$k8s_version-$key}
    if [ ! -x "$dir/kubectl" ]; then
        need_go
        mkdir -p "$dir"
        echo "building kubectl $k8s_version into $dir (first run only)" >&2
        (cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $version_ldflags" \
            -o "$dir/.kubectl.tmp" k8s.io/kubernetes/cmd/kubectl)
        mv "$dir/.kubectl.tmp" "$dir/kubectl"
    fi
    echo "$dir/kubectl"
    exit 0
fi
key=$(cat "$here/go.mod" "$here/etcd/go.mod" | sha256sum | cut -c1-8)
dir=${AIM_K8S_BIN_DIR:-$cache/k8s-$k8s_version-etcd-$etcd_version-$key}
bins=(etcd kube-apiserver kube-controller-manager)

complete() {
    for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

if ! complete; then
    need_go
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "building etcd $etcd_version and Kubernetes $k8s_version into $dir (first run only)" >&2
    (cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $version_ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
    (cd "$here/etcd" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    for b in "${bins[@]}"; do mv "$tmp/$b" "$dir/$b"; done
fi
echo "$dir"
