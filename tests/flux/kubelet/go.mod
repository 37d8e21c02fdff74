// The kubelet port-forward stand-in of the flux suite (main.go): its own module, so the
// collection's go.mod stays free of Kubernetes libraries. tests/flux/build copies it to the cache,
// runs `go mod tidy` against the Go module proxy and builds it.
module bo.microvm/tests/flux/kubelet

go 1.25.0

require k8s.io/kubelet v0.35.3
