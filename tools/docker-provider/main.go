// Command pulumi-resource-docker is the Pulumi Docker provider plugin for the
// pinned pulumi-docker Python SDK, built here from parts the Go module proxy
// serves: upstream's own recipe (the Terraform Docker provider, SDKv2 half,
// wrapped by pulumi-terraform-bridge with Pulumi's fork of the plugin SDK).
// Upstream's module, github.com/pulumi/pulumi-docker/provider/v4 (and /v5),
// is refused by the proxy for every version. See README.md for what differs.
package main

import (
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// version is what GetPluginInfo reports; install-pulumi.sh sets it with
// -ldflags "-X main.version=..." to the version it installs the plugin as.
var version = "5.2.0+k2infra"

// token is "docker:index/<lowerCamel>:<Name>", the shape of every docker SDK token.
func token(name string) string {
	return "docker:index/" + string(unicode.ToLower(rune(name[0]))) + name[1:] + ":" + name
}

func resource(name string) *tfbridge.ResourceInfo {
	return &tfbridge.ResourceInfo{Tok: tokens.Type(token(name))}
}

func dataSource(name string) *tfbridge.DataSourceInfo {
	return &tfbridge.DataSourceInfo{Tok: tokens.ModuleMember(token(name))}
}

func providerInfo() tfbridge.ProviderInfo {
	container := resource("Container")
	// Containers hold names and host ports: a replacement must free them first.
	container.DeleteBeforeReplace = true
	container.Fields = map[string]*tfbridge.SchemaInfo{
		"command":           {Name: "command"},          // one command, not plural
		"networks_advanced": {Name: "networksAdvanced"}, // the SDK's name
	}
	image := resource("RemoteImage")
	image.Fields = map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}}

	info := tfbridge.ProviderInfo{
		P:       shimv2.NewProvider(shim.NewProvider(version)),
		Name:    "docker",
		Version: version,
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{
				Value:   "unix:///var/run/docker.sock",
				EnvVars: []string{"DOCKER_HOST"},
			}},
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container":      container,
			"docker_image":          image,
			"docker_network":        resource("Network"),
			"docker_volume":         resource("Volume"),
			"docker_tag":            resource("Tag"),
			"docker_registry_image": resource("RegistryImage"),
			"docker_plugin":         resource("Plugin"),
			"docker_secret":         resource("Secret"),
			"docker_config":         resource("ServiceConfig"),
			"docker_service":        resource("Service"),
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    dataSource("getRemoteImage"),
			"docker_network":                  dataSource("getNetwork"),
			"docker_plugin":                   dataSource("getPlugin"),
			"docker_registry_image":           dataSource("getRegistryImage"),
			"docker_registry_image_manifests": dataSource("getRegistryImageManifests"),
			"docker_logs":                     dataSource("getLogs"),
		},
	}
	info.SetAutonaming(255, "-")
	return info
}

func main() {
	// No Pulumi schema is embedded: the Python SDK carries its own, and the engine
	// asks a provider for one only for code generation and `pulumi package`.
	tfbridge.Main("docker", version, providerInfo(), nil)
}
