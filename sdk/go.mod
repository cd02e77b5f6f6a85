module github.com/otlpgw/otlpgw/sdk

go 1.26
