//! [`InstrumentedBody`].

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::pending::Pending;

pin_project! {
    /// A response body that counts the data bytes it passes on, and records its
    /// request when it ends (the last frame, or an error) or is dropped (the client
    /// went away mid-stream: the bytes sent so far are recorded). Frames are passed
    /// through as they come, never buffered.
    pub struct InstrumentedBody<B> {
        #[pin]
        inner: B,
        recorder: Recorder,
    }
}

struct Recorder {
    pending: Option<Pending>,
    status: u16,
    bytes: u64,
}

impl Recorder {
    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            p.finish(self.status, self.bytes);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<B> InstrumentedBody<B> {
    pub(crate) fn new(inner: B, pending: Option<Pending>, status: u16) -> Self {
        InstrumentedBody {
            inner,
            recorder: Recorder {
                pending,
                status,
                bytes: 0,
            },
        }
    }

    /// The data bytes passed on so far.
    pub fn bytes_sent(&self) -> u64 {
        self.recorder.bytes
    }
}

impl<B: Body> Body for InstrumentedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    this.recorder.bytes += data.remaining() as u64;
                }
                // Servers stop polling a body that says it has ended.
                if inner.is_end_stream() {
                    this.recorder.finish();
                }
            }
            Some(Err(_)) | None => this.recorder.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for InstrumentedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedBody")
            .field("status", &self.recorder.status)
            .field("bytes", &self.recorder.bytes)
            .finish_non_exhaustive()
    }
}
