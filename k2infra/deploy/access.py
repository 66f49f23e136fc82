"""The apps' access as Pulumi resources: pulumi-kafka's own Acl, Quota and UserScramCredential.

Declared only where the stack sets `k2infra:accessControl: true`, from the Plan's `apps` (nothing is
re-derived here). SCRAM users only where the stack's apps log in by SCRAM (Plan.app_auth): with mutual
TLS or OAUTHBEARER an app proves its principal with its own certificate or OAuth client, which the
organisation's CA or identity provider issues (docs/access.md), and gets its ACLs and quota alone. Every resource is parented to the component, uses its Kafka provider, and waits
for the same guards as the topics, so that a refused run changes nothing. ACLs and SCRAM users are
protected as the stack's topics are (deleting one cuts an app off); quotas are not: a quota change
is a replace, and a replace only lifts a limit for a moment, so tuning one is a plain `pulumi up`. Logical names are the resources' own identities (an ACL's is the
`principal|host|operation|permission|type|name|pattern` string pulumi-kafka imports it by), so
adding an app or an exchange never renames an existing resource.

The `apps` stack output is defined with the others, in k2infra.model.outputs (AppOutput).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kafka as kafka

from k2infra.model.apps import QUOTA_NAME_PREFIX, SCRAM_NAME_PREFIX, AclSpec, ResourceType
from k2infra.model.connection import kafka_mechanism
from k2infra.model.plan import Plan
from k2infra.model.settings import NAMESPACE

APP_PASSWORDS_KEY = "appPasswords"
QUOTA_ENTITY_TYPE = "user"


def set_password_command(app: str) -> str:
    return f"pulumi config set --secret --path '{NAMESPACE}:{APP_PASSWORDS_KEY}.{app}' <password>"


@dataclass
class AccessResources:
    acls: dict[str, kafka.Acl] = field(default_factory=dict)  # by AclSpec.id
    quotas: dict[str, kafka.Quota] = field(default_factory=dict)  # by app
    credentials: dict[str, kafka.UserScramCredential] = field(default_factory=dict)  # by app


def declare_access(
    plan: Plan,
    passwords: Mapping[str, pulumi.Output[str]],
    checked: pulumi.Output[Any],
    opts: pulumi.ResourceOptions,
) -> AccessResources:
    """The apps' ACLs, quotas and (in SCRAM mode) SCRAM users; none unless the stack turns access control on.

    `passwords` are secret Outputs by app (program.read_app_passwords), `checked` resolves once the
    run's guards passed (one input of each resource waits for it, one the policy pack does not
    read), `opts` carry the parent, provider and protect of the topics."""
    resources = AccessResources()
    if not plan.access_control:
        return resources
    mechanism = kafka_mechanism(plan.app_scram_mechanism)
    for app in plan.apps:
        # The user's limit exists before the user can log in; and, the quota being unprotected, the engine
        # deletes it only after what protects the app (its credential, or without one its ACLs): removing an
        # app from a protected stack is refused before its quota is touched.
        after_quota = opts
        if app.quotas is not None:
            quota = resources.quotas[app.name] = kafka.Quota(
                f"{QUOTA_NAME_PREFIX}{app.username}",
                entity_type=checked.apply(lambda _: QUOTA_ENTITY_TYPE),
                entity_name=app.username,
                config=app.quotas.config(),
                opts=quota_options(opts),
            )
            after_quota = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[quota]))
        acl_opts = opts if plan.creates_app_credentials else after_quota
        for spec in app.acls:
            # The monitor's Describe on another app's group cuts no app off: unprotected, it goes with
            # that app when the app is removed (docs/runbook.md §10 unprotects the app's own only).
            unprotected = app.monitors and spec.resource_type is ResourceType.GROUP
            resources.acls[spec.id] = _acl(spec, checked, _unprotected(acl_opts) if unprotected else acl_opts)
        if not plan.creates_app_credentials:
            continue
        resources.credentials[app.name] = kafka.UserScramCredential(
            f"{SCRAM_NAME_PREFIX}{app.username}",
            username=app.username,
            scram_mechanism=mechanism,
            scram_iterations=checked.apply(lambda _: plan.app_scram_iterations),
            password=pulumi.Output.secret(passwords[app.name]),
            opts=after_quota,
        )
    return resources


def quota_options(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """`opts`, unprotected and deleting before replacing. pulumi-kafka replaces a Quota on any change
    of `config` (terraform-provider-kafka marks it ForceNew), so protecting it would make every quota
    change a manual unprotect; and it does not ask for delete-before-replace, so the engine would set
    the new values on the user first and then delete the old resource, whose delete removes the same
    keys from the same user: the app would be left without its quota."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=False, delete_before_replace=True))


def _unprotected(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=False))


def _acl(spec: AclSpec, checked: pulumi.Output[Any], opts: pulumi.ResourceOptions) -> kafka.Acl:
    return kafka.Acl(
        spec.id,
        acl_principal=spec.principal,
        acl_host=checked.apply(lambda _: spec.host),
        acl_operation=str(spec.operation),
        acl_permission_type=spec.permission,
        acl_resource_type=str(spec.resource_type),
        acl_resource_name=spec.resource_name,
        resource_pattern_type_filter=str(spec.pattern_type),
        opts=opts,
    )
