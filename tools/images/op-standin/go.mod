module github.com/op-kube/op-kube/tools/images/op-standin

go 1.26
