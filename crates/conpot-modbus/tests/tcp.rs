//! Modbus over real sockets with a third-party client (tokio-modbus), events included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use conpot_core::bus::SinkReceiver;
use conpot_core::config::Limits;
use conpot_core::event::Event;
use conpot_net::{Sensor, bind_tcp, serve_tcp};
use tokio_modbus::client::{Reader, Writer};
use tokio_modbus::prelude::*;

async fn start(mode: &str) -> (Arc<Sensor>, std::net::SocketAddr, SinkReceiver) {
    let (_device, svc) = common::service(mode);
    let (sensor, rx) = Sensor::standalone(Limits::default(), Duration::from_secs(30), None, 10_000);
    let l = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    serve_tcp(Arc::clone(&sensor), l, Arc::new(svc));
    (sensor, addr, rx)
}

async fn events(rx: &mut SinkReceiver, n: usize) -> Vec<Arc<Event>> {
    let mut v = Vec::new();
    while v.len() < n {
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("event")
            .expect("open");
        if e.event_type == "modbus.request" {
            v.push(e);
        }
    }
    v
}

#[tokio::test]
async fn tokio_modbus_client_round_trip() {
    let (sensor, addr, mut rx) = start("device").await;
    let mut ctx = tcp::connect_slave(addr, Slave(255)).await.unwrap();
    assert_eq!(
        ctx.read_holding_registers(0, 3).await.unwrap().unwrap(),
        vec![10, 20, 30]
    );
    ctx.write_single_register(1, 4321).await.unwrap().unwrap();
    ctx.write_multiple_registers(3, &[7, 8]).await.unwrap().unwrap();
    assert_eq!(
        ctx.read_holding_registers(0, 5).await.unwrap().unwrap(),
        vec![10, 4321, 30, 7, 8]
    );
    ctx.write_single_coil(9, false).await.unwrap().unwrap();
    ctx.write_multiple_coils(0, &[true, true, false])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ctx.read_coils(0, 10).await.unwrap().unwrap(),
        vec![true, true, false, true, true, false, false, false, true, false]
    );
    assert_eq!(ctx.read_discrete_inputs(100, 3).await.unwrap().unwrap(), vec![true; 3]);
    assert_eq!(ctx.read_input_registers(0, 4).await.unwrap().unwrap().len(), 4);
    let exc = ctx.read_holding_registers(500, 1).await.unwrap();
    assert_eq!(exc, Err(ExceptionCode::IllegalDataAddress));

    let evs = events(&mut rx, 10).await;
    let w = &evs[1];
    assert_eq!(w.request.as_ref().unwrap()["function"], "write_single_register");
    assert_eq!(w.request.as_ref().unwrap()["value"], 4321);
    assert_eq!(w.data["unit_id"], 255);
    assert_eq!(w.src.unwrap().ip().to_string(), "127.0.0.1");
    let last = &evs[9];
    assert_eq!(last.response.as_ref().unwrap()["exception"], 2);
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn many_clients_at_once() {
    let (sensor, addr, _rx) = start("device").await;
    let mut tasks = Vec::new();
    for i in 0..50u16 {
        tasks.push(tokio::spawn(async move {
            let mut ctx = tcp::connect_slave(addr, Slave(255)).await.unwrap();
            for _ in 0..20 {
                ctx.write_single_register(6, i).await.unwrap().unwrap();
                let v = ctx.read_holding_registers(0, 3).await.unwrap().unwrap();
                assert_eq!(v, vec![10, 20, 30]);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    sensor.shutdown.cancel();
}
