//! The CRI client: a tonic channel over the runtime's unix socket, reconnecting on demand, with a
//! time limit on every call. Converts generated `runtime.v1` messages into pullcheck's own types.

use super::cri;
use super::cri::image_service_client::ImageServiceClient;
use super::cri::runtime_service_client::RuntimeServiceClient;
use super::endpoint::RuntimeEndpoint;
use super::types::{Condition, ImageFs, ImageInfo, RuntimeInfo};
use crate::identity::RegistryAuth;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::Code;

/// What went wrong talking to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime could not be reached or did not speak CRI v1.
    #[error("container runtime at {endpoint} unavailable during {call}: {reason}")]
    Unavailable {
        /// `unix:///…`.
        endpoint: String,
        /// The CRI call (`Version`, `PullImage`, …).
        call: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// The runtime accepted the call and did not answer within its time limit.
    #[error("container runtime at {endpoint} unavailable during {call}: {}", Error::no_answer_within(*limit))]
    Timeout {
        /// `unix:///…`.
        endpoint: String,
        /// The CRI call.
        call: &'static str,
        /// The limit.
        limit: Duration,
    },
    /// The runtime answered the call with an error status (kept verbatim).
    #[error("{call} on {endpoint} failed: rpc error: code = {code} desc = {message}")]
    Rpc {
        /// `unix:///…`.
        endpoint: String,
        /// The CRI call.
        call: &'static str,
        /// The gRPC code name (`NotFound`, `Unknown`, …).
        code: String,
        /// The runtime's message.
        message: String,
    },
}

impl Error {
    /// Whether the runtime could not be asked (unreachable, not CRI v1, or silent past the
    /// limit), as opposed to answering with a status.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. })
    }

    /// `no answer within 2m`: how a call that timed out is described.
    pub fn no_answer_within(limit: Duration) -> String {
        format!("no answer within {}", humantime::format_duration(limit))
    }
}

/// A CRI v1 client for one runtime endpoint.
#[derive(Clone)]
pub struct RuntimeClient {
    endpoint: RuntimeEndpoint,
    channel: Channel,
    timeout: Duration,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClient")
            .field("endpoint", &self.endpoint.url())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RuntimeClient {
    /// A client that connects on first use and reconnects after the runtime restarts.
    /// `timeout` bounds each call except `PullImage`, which takes its own limit. Must be called
    /// within a tokio runtime (the channel spawns its connection task there).
    pub fn new(endpoint: RuntimeEndpoint, timeout: Duration) -> Self {
        let path = endpoint.path.clone();
        // tonic needs an http URI; the authority is never used because the connector dials the socket.
        let channel = Endpoint::from_static("http://cri.invalid")
            .connect_timeout(timeout)
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(&path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }));
        Self {
            endpoint,
            channel,
            timeout,
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &RuntimeEndpoint {
        &self.endpoint
    }

    /// CRI `Version`.
    async fn version_reply(&self) -> Result<cri::VersionResponse, Error> {
        let mut rt = RuntimeServiceClient::new(self.channel.clone());
        self.call(
            "Version",
            self.timeout,
            rt.version(cri::VersionRequest {
                version: "v1".into(),
            }),
        )
        .await
    }

    /// The runtime's name and version (CRI `Version` alone).
    pub async fn version(&self) -> Result<(String, String), Error> {
        let v = self.version_reply().await?;
        Ok((v.runtime_name, v.runtime_version))
    }

    /// Runtime name and versions, and its conditions (RuntimeReady, NetworkReady).
    pub async fn info(&self) -> Result<RuntimeInfo, Error> {
        let version = self.version_reply().await?;
        let mut rt = RuntimeServiceClient::new(self.channel.clone());
        let status = self
            .call(
                "Status",
                self.timeout,
                rt.status(cri::StatusRequest { verbose: false }),
            )
            .await?;
        let conditions = status
            .status
            .map(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .map(|c| Condition {
                kind: c.r#type,
                ok: c.status,
                reason: c.reason,
                message: c.message,
            })
            .collect();
        Ok(RuntimeInfo {
            name: version.runtime_name,
            version: version.runtime_version,
            api_version: version.runtime_api_version,
            conditions,
        })
    }

    /// The image filesystems the runtime reports, with capacity and free space where the
    /// mountpoint is visible from here.
    pub async fn image_fs(&self) -> Result<Vec<ImageFs>, Error> {
        let mut images = ImageServiceClient::new(self.channel.clone());
        let reply = self
            .call(
                "ImageFsInfo",
                self.timeout,
                images.image_fs_info(cri::ImageFsInfoRequest {}),
            )
            .await?;
        Ok(reply
            .image_filesystems
            .into_iter()
            .map(|fs| {
                ImageFs::measure(
                    fs.fs_id.map(|i| i.mountpoint).unwrap_or_default(),
                    fs.used_bytes.map(|v| v.value),
                )
            })
            .collect())
    }

    /// The image as the runtime knows it, or `None` when it is not present.
    pub async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>, Error> {
        let mut images = ImageServiceClient::new(self.channel.clone());
        let reply = self
            .call(
                "ImageStatus",
                self.timeout,
                images.image_status(cri::ImageStatusRequest {
                    image: Some(spec(image)),
                    verbose: false,
                }),
            )
            .await?;
        Ok(reply.image.map(ImageInfo::from))
    }

    /// Every image the runtime holds.
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>, Error> {
        let mut images = ImageServiceClient::new(self.channel.clone());
        let reply = self
            .call(
                "ListImages",
                self.timeout,
                images.list_images(cri::ListImagesRequest { filter: None }),
            )
            .await?;
        Ok(reply.images.into_iter().map(ImageInfo::from).collect())
    }

    /// Pulls `image` as the kubelet would, with `auth` sent for every host containerd contacts.
    /// Returns the image reference (ID) the runtime reports.
    pub async fn pull(
        &self,
        image: &str,
        auth: &RegistryAuth,
        limit: Duration,
    ) -> Result<String, Error> {
        let mut images = ImageServiceClient::new(self.channel.clone());
        let auth = match auth {
            RegistryAuth::Anonymous => None,
            RegistryAuth::Basic { username, password } => Some(cri::AuthConfig {
                username: username.clone(),
                password: password.clone(),
                ..Default::default()
            }),
        };
        let reply = self
            .call(
                "PullImage",
                limit,
                images.pull_image(cri::PullImageRequest {
                    image: Some(spec(image)),
                    auth,
                }),
            )
            .await?;
        Ok(reply.image_ref)
    }

    /// Removes an image (idempotent in CRI).
    pub async fn remove(&self, image: &str) -> Result<(), Error> {
        let mut images = ImageServiceClient::new(self.channel.clone());
        self.call(
            "RemoveImage",
            self.timeout,
            images.remove_image(cri::RemoveImageRequest {
                image: Some(spec(image)),
            }),
        )
        .await?;
        Ok(())
    }

    /// Runs one call under a time limit and sorts its failure: transport and protocol problems
    /// are the runtime being unavailable; a status the runtime chose is kept verbatim.
    async fn call<T>(
        &self,
        call: &'static str,
        limit: Duration,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        let unavailable = |reason: String| Error::Unavailable {
            endpoint: self.endpoint.url(),
            call,
            reason,
        };
        match tokio::time::timeout(limit, fut).await {
            Err(_) => Err(Error::Timeout {
                endpoint: self.endpoint.url(),
                call,
                limit,
            }),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(match sort_status(&status) {
                Some(reason) => unavailable(reason),
                None => Error::Rpc {
                    endpoint: self.endpoint.url(),
                    call,
                    code: code_name(status.code()).to_string(),
                    message: status.message().to_string(),
                },
            }),
        }
    }
}

/// An Unimplemented message that says the service or method is missing.
fn not_served(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.trim().is_empty() || m.contains("unknown service") || m.contains("unknown method")
}

/// A status that means "no CRI runtime here" rather than an answer from one.
fn sort_status(status: &tonic::Status) -> Option<String> {
    // tonic hides the transport error inside the status; walk its source chain for the cause
    // (connection refused, no such file, h2 protocol error).
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let text = err.to_string();
        if !text.is_empty() && causes.last() != Some(&text) {
            causes.push(text);
        }
        source = err.source();
    }
    let from_transport = !causes.is_empty();
    match status.code() {
        // A server without the service or method says so (grpc-go: "unknown service …",
        // "unknown method …"; others send no message). Any other Unimplemented is the
        // runtime's answer: containerd 2.x refuses a schema 1 image with it ("not
        // implemented: media type … is no longer supported since containerd v2.0").
        Code::Unimplemented if not_served(status.message()) => Some(format!(
            "the endpoint does not implement CRI v1 (runtime.v1): {}",
            status.message()
        )),
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled if from_transport => {
            let detail = causes.join(": ");
            let lower = detail.to_ascii_lowercase();
            // Connected, then the HTTP/2 exchange broke: something listens that is not gRPC.
            let foreign = [
                "protocol error",
                "frame",
                "http2",
                "connection error",
                "broken pipe",
                "connection reset",
            ]
            .iter()
            .any(|n| lower.contains(n))
                && !lower.contains("error trying to connect");
            if foreign {
                Some(format!(
                    "the socket accepted the connection but did not speak gRPC over HTTP/2 (not a CRI endpoint?): {detail}"
                ))
            } else {
                Some(detail)
            }
        }
        Code::Internal if status.message().contains("protocol error") => Some(format!(
            "the socket does not speak gRPC (not a CRI endpoint?): {}",
            status.message()
        )),
        _ => None,
    }
}

/// The Go name of a gRPC code, as `rpc error: code = … desc = …` prints it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

fn spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.to_string(),
        user_specified_image: image.to_string(),
        ..Default::default()
    }
}

impl From<cri::Image> for ImageInfo {
    fn from(i: cri::Image) -> Self {
        Self {
            id: i.id,
            repo_tags: i.repo_tags,
            repo_digests: i.repo_digests,
            size_bytes: i.size,
            pinned: i.pinned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_is_a_missing_service_only_when_it_says_so() {
        let missing = tonic::Status::unimplemented("unknown service runtime.v1.ImageService");
        assert!(sort_status(&missing)
            .unwrap()
            .contains("does not implement CRI v1"));
        assert!(sort_status(&tonic::Status::unimplemented("")).is_some());
        // containerd 2.x refusing a schema 1 image: the runtime's answer, not "no runtime".
        let schema1 = tonic::Status::unimplemented(
            "failed to pull and unpack image \"r/schema1/app:v1\": failed to resolve image: not implemented: media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\" is no longer supported since containerd v2.0",
        );
        assert!(sort_status(&schema1).is_none());
    }
}
