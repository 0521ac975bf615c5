module pullcheck.test/kube/pause

go 1.26.0
