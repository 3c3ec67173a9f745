// tokio echo server for bench/memory: a current_thread runtime (one thread, like Go's
// GOMAXPROCS=1) and a spawned task per connection, written as tokio's README echo example is
// (the example shipped with tokio 1.24): a `[0; 1024]` buffer inside the task, read, write_all.
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = String::from("27107");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        port = if a == "--port" {
            args.next().unwrap_or(port)
        } else {
            a
        };
    }
    let listener = TcpListener::bind(format!("127.0.0.1:{}", port)).await?;
    loop {
        let (mut socket, _) = listener.accept().await?;
        tokio::spawn(async move {
            // The README's buffer: part of the task's future, so of its one heap allocation.
            let mut buf = [0; 1024];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(_) => return,
                };
                if socket.write_all(&buf[0..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
