#!/usr/bin/env bash
# Builds the real parts the integration tests run against from Go modules pinned in this folder,
# into cache directories outside the repository keyed by the pinned modules, and prints where:
#
#   build.sh          etcd, kube-apiserver, kube-controller-manager (and kubectl, built with them
#                     because it shares most of their packages); prints their directory
#   build.sh helm     helm, to render and install the chart in tests; prints the binary
#   build.sh kubectl  kubectl of the same Kubernetes release, for the walk-through test; prints it
#   build.sh kserve   KServe's controller manager, with the CRDs, the inferenceservice-config
#                     config map and the webhook configurations of the same module (serving
#                     tests); prints their directory
#   build.sh kwok     kwok, which plays the kubelet of the serving tests' nodes, with the node and
#                     pod stages of its own module; prints their directory
#   build.sh all      all of the above, the independent Go modules in parallel (scripts/test);
#                     prints nothing. Cold, on 2 cores: see "What a test run costs" in the README.
#
# The control plane also has kube-scheduler, for the serving tests.
#
# Each part is built once per pinned version; later runs return at once. With AIM_NO_BUILD set, a
# part that is not built yet fails (exit 3) instead of being built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aim-engine

need_go() {
    if [ -n "${AIM_NO_BUILD:-}" ]; then
        echo "build.sh: not built yet (AIM_NO_BUILD is set)" >&2
        exit 3
    fi
    if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
    command -v go >/dev/null || {
        echo "build.sh: Go >= 1.26 is required to build the test control plane (etcd, kube-apiserver," \
            "kube-controller-manager, kube-scheduler), KServe, kwok and helm, and none was found; see scripts/install-test-deps" >&2
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

# module_dir BUILD_MODULE MODULE: where MODULE's files are, as BUILD_MODULE resolves it.
module_dir() {
    (cd "$1" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "$2")
}

kserve_version=v0.16.0
# KServe's manager, and the files of its module the serving tests apply: CRDs (config/crd/full,
# without the LLMInferenceService ones, which another command of KServe serves), the
# inferenceservice-config config map and the webhook configurations.
build_kserve() {
    local key dir src
    key=$(sha256sum <"$here/kserve/go.mod" | cut -c1-8)
    dir=${AIM_KSERVE_DIR:-$cache/kserve-$kserve_version-$key}
    if [ ! -f "$dir/inferenceservice-config.yaml" ]; then
        need_go
        build_one "$dir" manager "$here/kserve" "-s -w" github.com/kserve/kserve/cmd/manager >/dev/null
        src=$(module_dir "$here/kserve" github.com/kserve/kserve)
        mkdir -p "$dir/crds"
        cp "$src"/config/crd/full/serving.kserve.io_*.yaml "$dir/crds/"
        cp "$src/config/webhook/manifests.yaml" "$dir/webhooks.yaml"
        cp "$src/config/configmap/inferenceservice.yaml" "$dir/.inferenceservice-config.yaml"
        chmod u+w "$dir"/crds/* "$dir"/*.yaml "$dir/.inferenceservice-config.yaml"
        mv "$dir/.inferenceservice-config.yaml" "$dir/inferenceservice-config.yaml"
    fi
    echo "$dir"
}

kwok_version=v0.8.0
# The stages of kwok's module that play a kubelet: make a node Ready and renew its lease (so that
# the node lifecycle controller keeps it Ready), move a bound pod to Running, and finish deleting
# a pod. Part of the cache key, with the module.
kwok_stages="node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml"
build_kwok() {
    local key dir src f
    key=$( (cat "$here/kwok/go.mod"; echo "$kwok_stages") | sha256sum | cut -c1-8)
    dir=${AIM_KWOK_DIR:-$cache/kwok-$kwok_version-$key}
    if [ ! -f "$dir/stages.yaml" ]; then
        need_go
        build_one "$dir" kwok "$here/kwok" "-s -w" sigs.k8s.io/kwok/cmd/kwok >/dev/null
        src=$(module_dir "$here/kwok" sigs.k8s.io/kwok)
        for f in $kwok_stages; do
            echo "---"
            cat "$src/kustomize/stage/$f"
        done >"$dir/.stages.yaml"
        mv "$dir/.stages.yaml" "$dir/stages.yaml"
    fi
    echo "$dir"
}

helm_version=v3.22.0
build_helm() {
    local key
    key=$(sha256sum <"$here/helm/go.mod" | cut -c1-8)
    build_one "${AIM_HELM_BIN_DIR:-$cache/helm-$helm_version-$key}" helm "$here/helm" "-s -w" \
        helm.sh/helm/v3/cmd/helm
}

key=$(cat "$here/go.mod" "$here/etcd/go.mod" | sha256sum | cut -c1-8)
dir=${AIM_K8S_BIN_DIR:-$cache/k8s-$k8s_version-etcd-$etcd_version-$key}
kubernetes_commands=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() {
    for b in etcd "${kubernetes_commands[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

# The control plane and kubectl: one `go build` for the Kubernetes commands (they share most
# packages, and one build compiles each package once and links the binaries in parallel), and
# etcd's own module beside it.
build_control_plane() {
    complete && return 0
    need_go
    mkdir -p "$dir"
    local tmp
    tmp=$(mktemp -d "$dir/.build.XXXXXX")
    echo "building etcd $etcd_version and Kubernetes $k8s_version into $dir (first run only)" >&2
    local packages=() etcd_pid
    for c in "${kubernetes_commands[@]}"; do packages+=("k8s.io/kubernetes/cmd/$c"); done
    (cd "$here/etcd" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" \
        go.etcd.io/etcd/server/v3) &
    etcd_pid=$!
    if ! (cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $version_ldflags" \
        -o "$tmp/" "${packages[@]}"); then
        wait "$etcd_pid" || true
        rm -rf "$tmp"
        return 1
    fi
    wait "$etcd_pid" || { rm -rf "$tmp"; return 1; }
    for b in etcd "${kubernetes_commands[@]}"; do mv "$tmp/$b" "$dir/$b"; done
    rm -rf "$tmp"
}

case "${1:-}" in
    helm)
        build_helm
        exit 0 ;;
    kubectl)
        build_control_plane
        echo "$dir/kubectl"
        exit 0 ;;
    kserve)
        build_kserve
        exit 0 ;;
    kwok)
        build_kwok
        exit 0 ;;
    all)
        pids=()
        build_helm >/dev/null & pids+=($!)
        build_kserve >/dev/null & pids+=($!)
        build_kwok >/dev/null & pids+=($!)
        status=0
        build_control_plane || status=1
        for pid in "${pids[@]}"; do wait "$pid" || status=1; done
        exit "$status" ;;
esac

build_control_plane
echo "$dir"
