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

# build_one DIR NAME MODULE_DIR LDFLAGS PACKAGE: one binary into DIR (first run only); prints it.
build_one() {
    local dir=$1 name=$2 module_dir=$3 ldflags=$4 package=$5
    if [ ! -x "$dir/$name" ]; then
        need_go
        mkdir -p "$dir"
        echo "building $name into $dir (first run only)" >&2
        (cd "$module_dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir/.$name.tmp" "$package")
        mv "$dir/.$name.tmp" "$dir/$name"
    fi
    echo "$dir/$name"
}

k8s_version=v1.34.2
etcd_version=v3.6.16
version_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"

case "${1:-}" in
    helm)
        helm_version=v3.22.0
        key=$(sha256sum <"$here/helm/go.mod" | cut -c1-8)
        build_one "${AIM_HELM_BIN_DIR:-$cache/helm-$helm_version-$key}" helm "$here/helm" "-s -w" \
            helm.sh/helm/v3/cmd/helm
        exit 0 ;;
    kubectl)
        key=$(sha256sum <"$here/go.mod" | cut -c1-8)
        build_one "${AIM_KUBECTL_BIN_DIR:-$cache/kubectl-$k8s_version-$key}" kubectl "$here" \
            "-s -w $version_ldflags" k8s.io/kubernetes/cmd/kubectl
        exit 0 ;;
esac

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
