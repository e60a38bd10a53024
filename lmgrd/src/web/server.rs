//! The endpoint's runtime: a current-thread tokio runtime on the `http`
//! thread, accepting on the HTTP and HTTPS listeners, one hyper HTTP/1
//! connection task per client, with bounds on everything a client
//! controls: connections at once, header size and time, body size (in
//! [`super::routes`]), TLS handshake time.

use super::routes::{self, Shared};
use super::{Bound, Context};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// Time for a client to send its request headers, and to finish TLS.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The request head's size limit (hyper's read buffer).
const MAX_HEAD: usize = 16 * 1024;

/// Runs until the process ends.
pub fn run(bound: Bound, context: Context) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the HTTP endpoint: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let shared = Arc::new(Shared::new(context));
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut tasks = Vec::new();
        if let Some(l) = bound.http {
            match TcpListener::from_std(l) {
                Ok(l) => tasks.push(tokio::spawn(accept(l, None, shared.clone(), limit.clone()))),
                Err(e) => log::error!("HTTP endpoint: {e}"),
            }
        }
        if let Some((l, config)) = bound.https {
            let tls = tokio_rustls::TlsAcceptor::from(config);
            match TcpListener::from_std(l) {
                Ok(l) => tasks.push(tokio::spawn(accept(
                    l,
                    Some(tls),
                    shared.clone(),
                    limit.clone(),
                ))),
                Err(e) => log::error!("HTTPS endpoint: {e}"),
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

async fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
) {
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("HTTP endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let secure = tls.is_some();
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        routes::handle(shared, peer, secure, req).await,
                    )
                }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD);
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(s)) = handshake.await {
                        let _ = builder.serve_connection(TokioIo::new(s), service).await;
                    }
                }
            }
        });
    }
}
