#!/usr/bin/env python3
"""The test cluster's AWS account, for the kubelet's real ecr-credential-provider: moto's server
(ECR, IAM and STS) enforcing IAM on every request once set up, and the EC2 instance metadata
service (IMDSv2, scripts/cloud_fakes.py) handing out the node's instance-role credentials, which
moto's STS issued for the role `pullcheck-node-role`. The role may call
ecr:GetAuthorizationToken while its inline policy `ecr-pull` is attached; an SRE's drift (the
policy removed) makes moto refuse it with the AccessDenied AWS gives.

Usage: scripts/cluster_aws.py serve DIR             start both on loopback ports of their own,
                                                    write DIR/aws.json, run until stopped
       scripts/cluster_aws.py policy DIR grant|revoke
                                                    attach or remove the role's ECR policy
                                                    (as the account's admin user)

DIR/aws.json: {"ecr": "http://127.0.0.1:PORT", "imds": "http://127.0.0.1:PORT", "account",
"role", "role_arn", "admin": {access key of the admin user}}. Only loopback listeners: run it in
the cluster's network namespace (scripts/cluster does).
"""

import http.server
import json
import os
import sys
import threading

ACCOUNT = "123456789012"
ROLE = "pullcheck-node-role"
POLICY = "ecr-pull"
REGION = "us-east-1"
# What AmazonEC2ContainerRegistryReadOnly grants, the managed policy EKS node roles carry.
ECR_PULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:DescribeRepositories", "ecr:ListImages"]}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ec2.amazonaws.com"}}]}
# moto answers this many requests before it checks signatures and policies: the set-up below
# (create the role, its policy, the admin user, its policy and key, the role's session). The
# set-up then spends whatever is left with an unknown key until moto refuses, so a wrong count
# can never leave the tests' requests unchecked.
SETUP_REQUESTS = 7


def client(service, url, key=None):
    import boto3
    key = key or {"AccessKeyId": "AKIASETUPSETUPSETUP1", "SecretAccessKey": "set-up"}
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=key.get("SessionToken"))


def set_up(url):
    """The account as an EKS node group has it; returns the role's session and the admin's key."""
    from botocore.exceptions import ClientError
    iam, sts = client("iam", url), client("sts", url)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(ECR_PULL))
    iam.create_user(UserName="pullcheck-admin")
    iam.put_user_policy(UserName="pullcheck-admin", PolicyName="admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    admin = iam.create_access_key(UserName="pullcheck-admin")["AccessKey"]
    # The instance's session (the instance ID as the session name, as EC2 does), 6 hours.
    session = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="i-0pullchecknode",
                              DurationSeconds=21600)["Credentials"]
    for _ in range(SETUP_REQUESTS + 1):
        try:
            client("ecr", url).get_authorization_token()
        except ClientError:
            return session, admin
    raise SystemExit("scripts/cluster_aws.py: moto does not enforce IAM (INITIAL_NO_AUTH_ACTION_COUNT)")


def serve(d):
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_REQUESTS)
    from moto.server import ThreadedMotoServer
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cloud_fakes import Imds

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    url = "http://%s:%d" % moto.get_host_and_port()
    session, admin = set_up(url)
    imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    imds.daemon_threads = True
    imds.role, imds.omit_ttl = ROLE, False
    imds.access_key_id, imds.secret_key = session["AccessKeyId"], session["SecretAccessKey"]
    imds.session_token = session["SessionToken"]
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    os.makedirs(d, exist_ok=True)
    doc = {"ecr": url, "imds": "http://127.0.0.1:%d" % imds.server_address[1], "account": ACCOUNT,
           "region": REGION, "role": ROLE, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
           "admin": {"AccessKeyId": admin["AccessKeyId"], "SecretAccessKey": admin["SecretAccessKey"]}}
    tmp = os.path.join(d, "aws.json.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(doc, f, indent=1)
    os.rename(tmp, os.path.join(d, "aws.json"))
    print(f"cluster_aws: moto at {url}, IMDS at {doc['imds']}", flush=True)
    threading.Event().wait()


def policy(d, action):
    doc = json.load(open(os.path.join(d, "aws.json")))
    iam = client("iam", doc["ecr"], doc["admin"])
    if action == "grant":
        iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(ECR_PULL))
    else:
        iam.delete_role_policy(RoleName=ROLE, PolicyName=POLICY)


def main(argv):
    if len(argv) == 2 and argv[0] == "serve":
        serve(argv[1])
    elif len(argv) == 3 and argv[0] == "policy" and argv[2] in ("grant", "revoke"):
        policy(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
