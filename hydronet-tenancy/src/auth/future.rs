use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use hydronet_core::TenantContext;
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`Auth`](super::Auth): the inner service's future, an
    /// immediate refusal, or an API-key lookup followed by the inner service.
    #[project = Projection]
    pub struct ResponseFuture<F: Future, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F: Future, B> {
        Inner { #[pin] future: F, context: Option<TenantContext> },
        Refused { response: Option<Response<B>> },
        Boxed { future: Pin<Box<dyn Future<Output = F::Output> + Send>> },
    }
}

impl<F: Future, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                context: None,
            },
        }
    }

    /// The inner future, whose response will carry `context` in its extensions, so layers
    /// outside authentication (audit, metrics) know who was served.
    pub(crate) fn authenticated(future: F, context: TenantContext) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                context: Some(context),
            },
        }
    }

    pub(crate) fn boxed(future: Pin<Box<dyn Future<Output = F::Output> + Send>>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }

    pub(crate) fn refused(response: Response<B>) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Inner { future, context } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                if let Some(context) = context.take() {
                    response.extensions_mut().insert(context);
                }
                Poll::Ready(Ok(response))
            }
            KindProjection::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            KindProjection::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}
