module github.com/keepfed/keepfed

go 1.26.8

require (
	github.com/minio/sha256-simd v1.0.1
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/klauspost/cpuid/v2 v2.2.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.0.0-20220704084225-05e143d24a9e // indirect
)
