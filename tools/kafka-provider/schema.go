package main

// A minimal Pulumi package schema: provider config, the Topic, Acl, Quota and
// UserScramCredential resources and the getTopic/getTopics functions, with the
// tokens, property names, types, required lists, secrets and
// willReplaceOnChanges flags of upstream pulumi-kafka 3.13.3's schema. Enough
// for `pulumi import` code generation and `pulumi package get-schema`; no
// language sections and only short descriptions.

import "encoding/json"

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
func integer(desc string) map[string]any {
	return map[string]any{"type": "integer", "description": desc}
}
func boolean(desc string) map[string]any {
	return map[string]any{"type": "boolean", "description": desc}
}
func strMap(desc string) map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "description": desc}
}

func schemaJSON(version string) (string, error) {
	providerProps := map[string]any{
		"bootstrapServers": map[string]any{"type": "array", "items": map[string]any{"type": "string"},
			"description": "A list of host:port addresses that will be used to discover the full set of alive brokers."},
		"tlsEnabled":          withDefault(boolean("Enable communication with the Kafka Cluster over TLS."), true, "KAFKA_ENABLE_TLS"),
		"skipTlsVerify":       withDefault(boolean("Set this to true only if the target Kafka server is an insecure development instance."), false, "KAFKA_SKIP_VERIFY"),
		"caCert":              str("CA certificate (PEM) to validate the server's certificate."),
		"caCertFile":          str("Path to a CA certificate file (deprecated upstream; use caCert)."),
		"clientCert":          str("The client certificate (PEM)."),
		"clientCertFile":      str("Path to a file with the client certificate (deprecated upstream; use clientCert)."),
		"clientKey":           secret(str("The private key (PEM) that the certificate was issued for.")),
		"clientKeyFile":       str("Path to a file with the private key (deprecated upstream; use clientKey)."),
		"clientKeyPassphrase": secret(str("The passphrase of an encrypted (legacy PEM) clientKey.")),
		"saslMechanism":       withDefault(str("SASL mechanism: plain, scram-sha256, scram-sha512 or oauthbearer (aws-iam is not implemented by this provider)."), "plain", "KAFKA_SASL_MECHANISM"),
		"saslUsername":        str("Username for SASL authentication (with oauthbearer: the OAuth client id); plain and scram are used only when it is set."),
		"saslPassword":        secret(str("Password for SASL authentication (with oauthbearer: the OAuth client secret).")),
		"saslTokenUrl":        str("The url to retrieve oauth2 tokens from (client-credentials grant), when using sasl mechanism oauthbearer."),
		"saslOauthScopes": map[string]any{"type": "array", "items": map[string]any{"type": "string"},
			"description": "OAuth scopes to request when using the oauthbearer mechanism."},
		"timeout":      integer("Timeout in seconds (default 120)."),
		"kafkaVersion": str("Accepted for compatibility and ignored: protocol versions are negotiated with the broker."),
	}
	topicProps := map[string]any{
		"name":              str("The name of the topic."),
		"partitions":        integer("Number of partitions."),
		"replicationFactor": integer("Number of replicas."),
		"config":            strMap("A map of string k/v attributes."),
	}
	replacing := func(p map[string]any) map[string]any {
		q := map[string]any{}
		for k, v := range p {
			q[k] = v
		}
		q["willReplaceOnChanges"] = true
		return q
	}
	resourceSpec := func(desc string, outputs, inputs map[string]any, required, requiredInputs []string, name string) map[string]any {
		return map[string]any{
			"description":     desc,
			"properties":      outputs,
			"required":        required,
			"inputProperties": inputs,
			"requiredInputs":  requiredInputs,
			"stateInputs": map[string]any{
				"description": "Input properties used for looking up and filtering " + name + " resources.",
				"properties":  inputs,
				"type":        "object",
			},
		}
	}
	aclOut := map[string]any{
		"aclHost": str("Host from which the principal is allowed or denied (\"*\" for any)."), "aclOperation": str("Operation: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens."),
		"aclPermissionType": str("Allow or Deny."), "aclPrincipal": str("Principal, e.g. User:alice."),
		"aclResourceName": str("The name of the resource"), "aclResourceType": str("Topic, Group, Cluster, TransactionalID or DelegationToken."),
		"resourcePatternTypeFilter": str("Literal (default) or Prefixed."),
	}
	aclIn := map[string]any{}
	for k, v := range aclOut {
		aclIn[k] = replacing(v.(map[string]any))
	}
	aclReq := []string{"aclHost", "aclOperation", "aclPermissionType", "aclPrincipal", "aclResourceName", "aclResourceType"}
	quotaOut := map[string]any{
		"config":     strMap("A map of string k/v properties."),
		"entityName": str("The name of the entity (if entityName is not provided, it will create entity-default Kafka quota)"),
		"entityType": str("The type of the entity (client-id, user, ip)"),
	}
	quotaIn := map[string]any{}
	for k, v := range quotaOut {
		quotaIn[k] = replacing(v.(map[string]any))
	}
	scramOut := map[string]any{
		"password":          secret(str("The password of the credential (deprecated, use passwordWo instead)")),
		"passwordWo":        secret(str("**NOTE:** This field is write-only and its value will not be updated in state as part of read operations.\nThe write-only password of the credential")),
		"passwordWoVersion": str("Version identifier for the write-only password to track changes"),
		"scramIterations":   integer("The number of SCRAM iterations used when generating the credential"),
		"scramMechanism":    str("The SCRAM mechanism used to generate the credential (SCRAM-SHA-256, SCRAM-SHA-512)"),
		"username":          str("The name of the credential"),
	}
	scramIn := map[string]any{}
	for k, v := range scramOut {
		scramIn[k] = v
	}
	scramIn["scramMechanism"] = replacing(scramOut["scramMechanism"].(map[string]any))
	scramIn["username"] = replacing(scramOut["username"].(map[string]any))
	listItem := "kafka:index/getTopicsList:getTopicsList"
	schema := map[string]any{
		"name":        "kafka",
		"displayName": "Kafka (k2infra)",
		"version":     version,
		"description": "k2infra's own Kafka provider: the resources and functions of pulumi-kafka 3.13.3 (see tools/kafka-provider/README.md for differences).",
		"meta":        map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"},
		"config": map[string]any{
			"variables": providerProps,
			"defaults":  []string{"bootstrapServers"},
		},
		"provider": map[string]any{
			"description":     "The provider type for the kafka package.",
			"inputProperties": providerProps,
			"requiredInputs":  []string{"bootstrapServers"},
		},
		"resources": map[string]any{
			topicType: map[string]any{
				"description":     "A Kafka topic: partitions, replication factor and topic-level configs. Partition increases are applied in place; decreases replace the topic.",
				"properties":      topicProps,
				"required":        []string{"name", "partitions", "replicationFactor"},
				"inputProperties": topicProps,
				"requiredInputs":  []string{"partitions", "replicationFactor"},
				"stateInputs": map[string]any{
					"description": "Input properties used for looking up and filtering Topic resources.",
					"properties":  topicProps,
					"type":        "object",
				},
			},
			aclType: resourceSpec("A Kafka ACL binding. Every change replaces it.", aclOut, aclIn, aclReq, aclReq, "Acl"),
			quotaType: resourceSpec("The client quotas of one entity. Every change replaces it.", quotaOut, quotaIn,
				[]string{"entityType"}, []string{"entityType"}, "Quota"),
			scramType: resourceSpec("A SCRAM credential of a user.", scramOut, scramIn,
				[]string{"scramMechanism", "username"}, []string{"scramMechanism", "username"}, "UserScramCredential"),
		},
		"functions": map[string]any{
			"kafka:index:getTopic": map[string]any{
				"inputs": map[string]any{
					"properties": map[string]any{"name": str("The name of the topic.")},
					"type":       "object",
					"required":   []string{"name"},
				},
				"outputs": map[string]any{
					"description": "A collection of values returned by getTopic.",
					"properties": map[string]any{
						"config":            strMap(""),
						"id":                str("The provider-assigned unique ID for this managed resource."),
						"name":              str(""),
						"partitions":        integer(""),
						"replicationFactor": integer(""),
					},
					"type":     "object",
					"required": []string{"config", "name", "partitions", "replicationFactor", "id"},
				},
			},
			"kafka:index:getTopics": map[string]any{
				"outputs": map[string]any{
					"description": "A collection of values returned by getTopics.",
					"properties": map[string]any{
						"id": str("The provider-assigned unique ID for this managed resource."),
						"lists": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/types/" + listItem},
							"description": "A list containing all the topics."},
					},
					"type":     "object",
					"required": []string{"lists", "id"},
				},
			},
		},
		"types": map[string]any{
			listItem: map[string]any{
				"properties": map[string]any{
					"config":            strMap("A map of string k/v attributes."),
					"partitions":        integer("Number of partitions."),
					"replicationFactor": integer("Number of replicas."),
					"topicName":         str("The name of the topic."),
				},
				"type":     "object",
				"required": []string{"config", "partitions", "replicationFactor", "topicName"},
			},
		},
	}
	b, err := json.Marshal(schema)
	return string(b), err
}

func secret(p map[string]any) map[string]any { p["secret"] = true; return p }

func withDefault(p map[string]any, def any, env string) map[string]any {
	p["default"] = def
	p["defaultInfo"] = map[string]any{"environment": []string{env}}
	return p
}
