"""Fakes for what cannot run here, speaking the real wire protocols: the EC2 instance metadata
service (IMDSv2) and the GCE metadata server. Used by scripts/testbed.py."""

import datetime
import http.server
import json
import secrets


class Imds(http.server.BaseHTTPRequestHandler):
    """IMDSv2: PUT /latest/api/token with x-aws-ec2-metadata-token-ttl-seconds gives a session
    token (echoing the TTL header, which the AWS SDKs require); every GET needs
    x-aws-ec2-metadata-token or gets 401. Set `server.role` ("" = no instance profile) and
    `server.omit_ttl` (reply to PUT without the TTL header), `server.secret_key` and optionally
    `server.access_key_id` and `server.session_token` (the role credentials' AccessKeyId,
    SecretAccessKey and Token: scripts/cluster_aws.py hands out those moto's STS issued)."""

    protocol_version = "HTTP/1.1"
    tokens = set()

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        ttl = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
        if self.path != "/latest/api/token" or not ttl:
            return self.reply(400)
        token = secrets.token_hex(16)
        Imds.tokens.add(token)
        headers = [] if self.server.omit_ttl else [("x-aws-ec2-metadata-token-ttl-seconds", ttl)]
        self.reply(200, token.encode(), headers)

    def do_GET(self):
        if self.headers.get("x-aws-ec2-metadata-token") not in Imds.tokens:
            return self.reply(401)
        role = self.server.role
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.reply(200, role.encode()) if role else self.reply(404)
        if role and self.path == base + role:
            now = datetime.datetime.now(datetime.timezone.utc)
            creds = {
                "Code": "Success",
                "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Type": "AWS-HMAC",
                "AccessKeyId": getattr(self.server, "access_key_id", "ASIAPULLCHECKTESTBED"),
                "SecretAccessKey": self.server.secret_key,
                "Token": getattr(self.server, "session_token", "pullcheck-testbed-session-token"),
                "Expiration": (now + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            return self.reply(200, json.dumps(creds).encode(), [("Content-Type", "text/plain")])
        if role and self.path == "/latest/meta-data/iam/info":
            info = {"Code": "Success", "InstanceProfileArn": f"arn:aws:iam::123456789012:instance-profile/{role}",
                    "InstanceProfileId": "AIPAPULLCHECKTESTBED"}
            return self.reply(200, json.dumps(info).encode())
        self.reply(404)


class Gce(http.server.BaseHTTPRequestHandler):
    """The GCE metadata server: requests without `Metadata-Flavor: Google` get 403; the default
    service account's token, email and scopes. Set `server.token`, `server.email`,
    `server.scopes`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", ctype="application/text"):
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.reply(403, b"Missing required header: Metadata-Flavor")
        base = "/computeMetadata/v1/instance/service-accounts/default/"
        path = self.path.split("?", 1)[0]
        if path == base + "token":
            body = {"access_token": self.server.token, "expires_in": 3599, "token_type": "Bearer"}
            return self.reply(200, json.dumps(body).encode(), "application/json")
        if path == base + "email":
            return self.reply(200, self.server.email.encode())
        if path == base + "scopes":
            return self.reply(200, ("\n".join(self.server.scopes) + "\n").encode())
        self.reply(404)
