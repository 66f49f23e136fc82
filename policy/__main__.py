"""Entry point of the K2 policy pack (`pulumi preview --policy-pack policy`). The rules live in
k2_policies; this only makes k2infra importable and serves the pack."""

import sys
from pathlib import Path

# The analyzer runs this file with the policy pack directory as the working directory and on
# sys.path; the rules reuse the naming of k2infra, one directory up.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from k2_policies.pack import DEFAULT_ENFORCEMENT, PACK_NAME, policies
from pulumi_policy import PolicyPack

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=DEFAULT_ENFORCEMENT)
