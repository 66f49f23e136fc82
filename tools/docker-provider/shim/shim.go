// Package shim exposes the Terraform Docker provider's SDKv2 provider to the
// bridge. Its import path lies under the upstream module's path, which is what
// lets it import that module's internal/provider package.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider is the upstream SDKv2 provider (containers, images, networks,
// volumes, ...). The plugin-framework half of upstream (compose, buildx
// builders, actions) is not bridged.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
