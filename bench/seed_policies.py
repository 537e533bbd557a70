#!/usr/bin/env python3
"""Fills an account with customer managed policies, straight against moto.

    seed_policies.py --endpoint http://127.0.0.1:PORT --count 2500

Creates `team-policy-0001` .. `team-policy-NNNN` (each a small valid document),
concurrently, then checks that IAM lists them all (Scope=Local). Run it against moto's
own port, not through bench/latency_proxy.py: the calls are set-up, not measured.
Prints how many it created and how long it took.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config

DOCUMENT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": "arn:aws:s3:::team-bucket/*"}],
})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--count", type=int, default=2500)
    p.add_argument("--threads", type=int, default=16)
    a = p.parse_args()
    iam = boto3.client("iam", endpoint_url=a.endpoint, region_name="us-east-1",
                       config=botocore.config.Config(max_pool_connections=a.threads,
                                                     retries={"max_attempts": 5}))
    start = time.monotonic()
    names = [f"team-policy-{i:04d}" for i in range(1, a.count + 1)]
    with ThreadPoolExecutor(a.threads) as pool:
        # list() so that a failed create raises here.
        list(pool.map(lambda n: iam.create_policy(PolicyName=n, PolicyDocument=DOCUMENT,
                                                  Description="bench: a team's policy"),
                      names))
    listed = 0
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        listed += sum(1 for pol in page["Policies"] if pol["PolicyName"].startswith("team-policy-"))
    if listed != a.count:
        sys.exit(f"seed_policies: created {a.count}, but ListPolicies(Scope=Local) shows {listed}")
    print(f"created {a.count} local policies in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
