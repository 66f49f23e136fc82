// Command pulumi-resource-kafka is k2infra's own Pulumi resource provider for
// Kafka topics. It stands in for upstream pulumi-kafka 3.13.3 (which the Go
// module proxy we can reach refuses to serve) and implements that provider's
// schema: provider config, the Topic, Acl, Quota and UserScramCredential
// resources and the getTopic/getTopics functions. See README.md for what differs.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is what GetPluginInfo reports; install-pulumi.sh sets it with
// -ldflags "-X main.version=..." to the version it installs the plugin as.
var version = "3.13.3+k2infra"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version)
		return
	}
	watchParent() // exit once the engine is gone (parentwatch.go)
	err := provider.Main("kafka", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return newProvider(host, version), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-kafka: %v\n", err)
		os.Exit(1)
	}
}
