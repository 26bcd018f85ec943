"""ccpulse pipeline bench: throughput against baselines, produce-to-Redis latency, memory.

One run starts the embedded broker (Tansu) and Redis, produces simulated contact-centre events to
two topics (one event per message, and per-queue JSON arrays of ~100 events) and measures, each
in a fresh subprocess with a fresh consumer group / app id and fresh state, reading the whole
pre-filled topic:

  a. ccpulse pipeline: the real app (`build_worker_app`: `create_app` + Redis and Prometheus
     sinks), all KPIs on; events applied per second (`Pipeline.health` counts);
  b. ceiling: a raw aiokafka consumer that orjson-decodes every message;
  c. Faust floor: a no-op Faust agent that only decodes (per event, and with `take_events`);
  d. baseline: a naive Faust agent updating a tumbling 15-min windowed count table per event;
  e. peer: Quix Streams counting per queue in tumbling 15-min windows (event time).

Row a2 runs the pipeline on topics where every event family is on (agent states of the queues'
staff, ticket desks, survey responses), row a3 on the same number of queue events spread over
--many-queues queues (10,000). The throughput rows run in --repeat interleaved rounds (3): each
round runs every row once, ratios are taken within a round, and targets are judged on the median
ratio (a single run is not a verdict: rates swing with the day and the neighbours' load).

Then the latency of the real `ccpulse worker` at a fixed offered load (5,000 ev/s, real-time
stamps, batched producer) from produce to the Redis update that reflects each event, and the
peak RSS of a `ccpulse worker` holding 1,000 and 10,000 queues over a day of 15-min intervals.

Rates are events/s from the first to the last event a consumer handles (start-up and group join
excluded; for ccpulse and Quix Streams, which write state apart from handling events, until the
last event's state is written). Events are the simulator's contact events only (its agent,
ticket and survey families are off) except in row a2. Figures are measurements: a missed target
prints MISS, never a non-zero exit.

    .venv/bin/python bench/pipeline_bench.py            # full run, 3 rounds (~45 min on 2 cores)
    .venv/bin/python bench/pipeline_bench.py --quick    # smoke run, one round
"""
