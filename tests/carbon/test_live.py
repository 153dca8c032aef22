"""Live carbon providers and the live signal, against fake Electricity Maps / WattTime servers.

Every HTTP test talks to a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) that the ``api`` fixture
starts and stops; nothing leaves the machine.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import traceback
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cenas._secrets import SECRET_ENV_VARS, redact, register_secret
from cenas.carbon import (
    CarbonProvider,
    CarbonTrace,
    ElectricityMapsProvider,
    LiveCarbonSignal,
    ProviderError,
    ProviderReading,
    TraceReplayProvider,
    WattTimeProvider,
)
from cenas.carbon.forecast import PreviousDay, make_forecaster
from cenas.carbon.live import DEFAULT_SCALE, LB_PER_MWH_TO_G_PER_KWH
from cenas.errors import CenasError, ConfigError

START = pd.Timestamp("2025-06-01T12:00:00Z")
EM_TOKEN = "tok-SECRET-12345"
WT_USER = "wt-user-SECRET-abcd"
WT_PASSWORD = "pw-SECRET-67890"
WT_BEARER = "wt-bearer-SECRET-999"
SECRETS = (EM_TOKEN, WT_USER, WT_PASSWORD, WT_BEARER)


# --------------------------------------------------------------------------- fake server
class FakeAPI:
    """Fake Electricity Maps and WattTime endpoints whose behaviour a test switches."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {"em_latest": "ok", "em_forecast": "ok", "wt": "ok"}
        self.em_value = 250.0
        self.fail_left = 0  # for mode "flaky": failures before answering
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.logins = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.base_url = ""

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    # ------------------------------------------------------------ answers
    def em_latest(self, h: BaseHTTPRequestHandler, mode: str) -> tuple[int, Any]:
        if mode == "flaky":
            with self.lock:
                self.fail_left -= 1
                mode = "500" if self.fail_left >= 0 else "ok"
        if mode == "500":  # a careless server that echoes the credential it got
            return 500, {"message": f"internal error for token {h.headers.get('auth-token')}"}
        if mode == "hang":
            self.release.wait(3.0)
            return 200, {"carbonIntensity": 1.0}
        if mode == "malformed":
            return 200, b'{"zone": "DE", "carbonIntensity": 3'
        if mode == "missing":
            return 200, {"zone": "DE", "datetime": "2025-06-01T12:00:00.000Z"}
        return 200, {
            "zone": "DE",
            "carbonIntensity": self.em_value,
            "datetime": "2025-06-01T12:00:00.000Z",
            "updatedAt": "2025-06-01T12:07:31.000Z",
        }

    def em_forecast(self, h: BaseHTTPRequestHandler, mode: str) -> tuple[int, Any]:
        if mode == "500":
            return 503, {"message": "forecast unavailable"}
        hours = pd.date_range(START + pd.Timedelta(hours=1), periods=48, freq="h")
        entries = [
            {"carbonIntensity": 100 + i, "datetime": t.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            for i, t in enumerate(hours)
        ]
        return 200, {"zone": "DE", "forecast": entries, "updatedAt": "2025-06-01T12:00:00Z"}

    def wt_login(self, h: BaseHTTPRequestHandler) -> tuple[int, Any]:
        auth = h.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
        if auth != want:
            got = base64.b64decode(auth.removeprefix("Basic ") or b"").decode(errors="replace")
            return 401, {"error": f"bad credentials {got}"}
        with self.lock:
            self.logins += 1
        return 200, {"token": WT_BEARER}

    def wt_forecast(self, h: BaseHTTPRequestHandler, mode: str) -> tuple[int, Any]:
        auth = h.headers.get("Authorization", "")
        if mode == "expired-once":
            self.modes["wt"] = "ok"
            return 401, {"error": "token expired"}
        if auth != f"Bearer {WT_BEARER}":
            return 401, {"error": "invalid token"}
        if mode == "500":
            return 500, {"error": f"crashed handling {auth}"}
        first = START + pd.Timedelta(minutes=35)  # a nowcast from 12:35, five-minute points
        points = pd.date_range(first, periods=24 * 12, freq="5min")
        data = [
            {
                "point_time": t.isoformat(),
                "value": 800.0 + 10 * int((t.floor("h") - START) / pd.Timedelta(hours=1)),
            }
            for t in points
        ]
        meta = {"region": "CAISO_NORTH", "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}
        return 200, {"data": data, "meta": meta}

    def answer(self, h: BaseHTTPRequestHandler) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(h.path)
        with self.lock:
            self.requests.append((url.path, {k.lower(): v for k, v in h.headers.items()}))
        if url.path.startswith("/v3/carbon-intensity/"):
            if h.headers.get("auth-token") != EM_TOKEN:
                return 401, {"message": "Invalid auth-token"}
            if url.path.endswith("/latest"):
                return self.em_latest(h, self.modes["em_latest"])
            if url.path.endswith("/forecast"):
                return self.em_forecast(h, self.modes["em_forecast"])
        if url.path == "/login":
            return self.wt_login(h)
        if url.path == "/v3/forecast":
            return self.wt_forecast(h, self.modes["wt"])
        return 404, {"message": "no such route"}


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    fake = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = fake.answer(self)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up (time-out test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", EM_TOKEN)
    monkeypatch.setenv("WATTTIME_USERNAME", WT_USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", WT_PASSWORD)


def em(api: FakeAPI, **kw: Any) -> ElectricityMapsProvider:
    return ElectricityMapsProvider("DE", base_url=api.base_url, **kw)


def wt(api: FakeAPI, **kw: Any) -> WattTimeProvider:
    return WattTimeProvider("CAISO_NORTH", base_url=api.base_url, **kw)


def history_trace(hours: int = 48, start: str = "2022-03-01") -> CarbonTrace:
    t = np.arange(hours)
    return CarbonTrace(values=300 + 50 * np.sin(2 * np.pi * t / 24) + t % 5, start=start)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- secrets
def test_redact_replaces_known_and_suffixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "tok-abc-123")
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "k3y-value")
    monkeypatch.setenv("db_password", "hunter2!")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # shorter than 4: left alone
    monkeypatch.setenv("HOME_DIRECTORY", "not-a-secret")
    text = "a tok-abc-123 b k3y-value c hunter2! d abc e not-a-secret f hunter2%21"
    assert redact(text) == "a *** b *** c *** d abc e not-a-secret f ***"
    assert "ELECTRICITYMAPS_TOKEN" in SECRET_ENV_VARS and "WATTTIME_PASSWORD" in SECRET_ENV_VARS
    register_secret("runtime-bearer-xyz")
    assert redact("Bearer runtime-bearer-xyz") == "Bearer ***"


# --------------------------------------------------------------------------- trace replay
def test_trace_replay_maps_step_k_to_trace_hour_start_plus_k() -> None:
    trace = CarbonTrace(values=np.arange(100.0) * 3, start="2022-01-01")
    provider = TraceReplayProvider(trace, trace_start=10, wall_start="2025-06-01T12:34:56Z")
    assert provider.wall_start == START  # floored to the hour
    signal = LiveCarbonSignal(provider, start_utc=START, horizon=4, sleep=Sleeps())
    for k in range(5):
        assert signal.intensity(k) == 3 * (10 + k)
        assert signal.hour_utc(k) == START + pd.Timedelta(hours=k)
    reading = provider.fetch(START + pd.Timedelta(hours=7))
    assert reading.intensity == 3 * 17 and reading.forecast is None
    assert reading.provider_time == pd.Timestamp("2022-01-01T17:00Z")
    # no provider forecast and no forecaster: persistence, labelled so
    assert np.array_equal(signal.forecast(2), np.full(4, 3 * 12))
    assert signal.provenance(2)["forecast_source"] == "persistence"
    # a time as the replay start, and the clairvoyant forecast of the trace's own future
    seer = TraceReplayProvider(trace, "2022-01-02T00:00Z", START, clairvoyant=True, horizon=6)
    ahead = LiveCarbonSignal(seer, start_utc=START, horizon=6, sleep=Sleeps())
    assert ahead.intensity(1) == 3 * 25
    assert np.array_equal(ahead.forecast(1), 3 * np.arange(26, 32.0))
    assert ahead.provenance(1)["clairvoyant"] is True
    assert ahead.provenance(1)["forecast_source"] == "provider"
    with pytest.raises(ProviderError, match="outside its 100 hours"):
        provider.fetch(START + pd.Timedelta(hours=90))
    with pytest.raises(ConfigError):
        TraceReplayProvider(trace, trace_start=100)


def test_each_step_is_fetched_once() -> None:
    class Counting(CarbonProvider):
        name = "counting"

        def __init__(self) -> None:
            self.calls: list[pd.Timestamp] = []

        def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
            self.calls.append(hour_utc)
            return ProviderReading(intensity=100.0 + len(self.calls), hour_utc=hour_utc)

    provider = Counting()
    signal = LiveCarbonSignal(provider, start_utc=START, sleep=Sleeps())
    assert signal.intensity(0) == 101.0
    signal.forecast(0)
    signal.provenance(0)
    assert signal.intensity(0) == 101.0
    assert signal.intensity(3) == 102.0
    assert provider.calls == [START, START + pd.Timedelta(hours=3)]
    assert [p["step"] for p in signal.provenance_log] == [0, 3]
    half = LiveCarbonSignal(Counting(), start_utc=START, step_hours=0.5, sleep=Sleeps())
    assert half.hour_utc(3) == START + pd.Timedelta(hours=1)


# --------------------------------------------------------------------------- Electricity Maps
def test_electricitymaps_reads_latest_and_forecast_with_auth_header(
    api: FakeAPI, creds: None
) -> None:
    provider = em(api)
    reading = provider.fetch(START + pd.Timedelta(minutes=20))
    assert reading.intensity == 250.0
    assert reading.hour_utc == START
    assert reading.provider_time == START
    assert reading.zone == "DE"
    assert reading.forecast is not None
    assert np.array_equal(reading.forecast, 100.0 + np.arange(48))  # hours after 12:00
    path, headers = api.requests[0]
    assert path == "/v3/carbon-intensity/latest"
    assert headers.get("auth-token") == EM_TOKEN
    assert api.count("/v3/carbon-intensity/forecast") == 1

    signal = LiveCarbonSignal(provider, start_utc=START, horizon=24, sleep=Sleeps())
    assert signal.intensity(0) == 250.0
    assert np.array_equal(signal.forecast(0), 100.0 + np.arange(24))
    prov = signal.provenance(0)
    assert prov["status"] == "ok" and prov["attempts"] == 1 and prov["error"] is None
    assert prov["forecast_source"] == "provider" and prov["provider"] == "electricitymaps"
    json.dumps(signal.provenance_log)  # JSON-safe


def test_electricitymaps_wrong_token_is_rejected_by_the_server(
    api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "tok-wrong-0000")
    with pytest.raises(ProviderError, match="HTTP 401") as info:
        em(api).fetch(START)
    assert info.value.retryable is False
    assert api.requests[0][1].get("auth-token") == "tok-wrong-0000"


def test_forecast_endpoint_failure_alone_is_not_fatal(api: FakeAPI, creds: None) -> None:
    api.modes["em_forecast"] = "500"
    reading = em(api).fetch(START)
    assert reading.intensity == 250.0 and reading.forecast is None
    assert reading.forecast_error is not None and "HTTP 503" in reading.forecast_error
    signal = LiveCarbonSignal(em(api), start_utc=START, horizon=6, sleep=Sleeps())
    assert np.array_equal(signal.forecast(0), np.full(6, 250.0))
    prov = signal.provenance(0)
    assert prov["status"] == "ok" and prov["forecast_source"] == "persistence"
    assert "HTTP 503" in prov["forecast_error"]


def test_server_errors_are_retried_then_fall_back(api: FakeAPI, creds: None) -> None:
    history = history_trace(48)
    sleeps = Sleeps()
    signal = LiveCarbonSignal(
        em(api, forecast=False),
        forecaster=PreviousDay(),
        history=history,
        horizon=24,
        retries=2,
        backoff_s=0.5,
        start_utc=START,
        sleep=sleeps,
    )
    assert signal.intensity(0) == 250.0
    assert sleeps == []
    api.modes["em_latest"] = "500"
    before = api.count("/v3/carbon-intensity/latest")
    assert signal.intensity(1) == 250.0  # the last good value
    assert api.count("/v3/carbon-intensity/latest") - before == 3
    assert sleeps == [0.5, 1.0]
    prov = signal.provenance(1)
    assert prov["status"] == "fallback" and prov["attempts"] == 3
    assert prov["intensity_source"] == "last-value"
    assert "HTTP 500" in prov["error"] and "electricitymaps" in prov["error"]
    assert prov["forecast_source"] == "forecaster"
    # previous-day repeats the 24 hours up to step 1: history, step 0, step 1 (= step 0)
    expected = np.concatenate([history.values[-22:], [250.0, 250.0]])
    assert np.allclose(signal.forecast(1), expected)
    assert signal.scale == pytest.approx(history.values.max())


def test_flaky_server_recovers_within_the_retries(api: FakeAPI, creds: None) -> None:
    api.modes["em_latest"], api.fail_left = "flaky", 2
    sleeps = Sleeps()
    signal = LiveCarbonSignal(em(api), retries=3, backoff_s=2.0, start_utc=START, sleep=sleeps)
    assert signal.intensity(0) == 250.0
    assert signal.provenance(0)["status"] == "ok"
    assert signal.provenance(0)["attempts"] == 3
    assert sleeps == [2.0, 4.0]


def test_hanging_endpoint_times_out_and_falls_back(api: FakeAPI, creds: None) -> None:
    sleeps = Sleeps()
    provider = em(api, timeout_s=0.3, forecast=False)
    signal = LiveCarbonSignal(provider, retries=1, backoff_s=0.0, start_utc=START, sleep=sleeps)
    assert signal.intensity(0) == 250.0
    api.modes["em_latest"] = "hang"
    assert signal.intensity(1) == 250.0
    prov = signal.provenance(1)
    assert prov["status"] == "fallback" and prov["attempts"] == 2
    assert "time-out" in prov["error"]
    assert np.array_equal(signal.forecast(1), np.full(24, 250.0))
    assert prov["forecast_source"] == "persistence"


def test_signal_deadline_catches_a_provider_that_never_returns() -> None:
    gate = threading.Event()

    class Stuck(CarbonProvider):
        name = "stuck"

        def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
            gate.wait(5.0)
            return ProviderReading(intensity=1.0, hour_utc=hour_utc)

    history = history_trace(30)
    try:
        signal = LiveCarbonSignal(
            Stuck(), history=history, retries=0, timeout_s=0.2, start_utc=START, sleep=Sleeps()
        )
        assert signal.intensity(0) == history.values[-1]
        prov = signal.provenance(0)
        assert prov["status"] == "fallback" and prov["intensity_source"] == "history"
        assert "within 0.2 s (time-out)" in prov["error"]
    finally:
        gate.set()


def test_malformed_json_and_missing_field(api: FakeAPI, creds: None) -> None:
    api.modes["em_latest"] = "malformed"
    with pytest.raises(ProviderError) as info:
        em(api).fetch(START)
    msg = str(info.value)
    assert msg.startswith("electricitymaps: GET /v3/carbon-intensity/latest")
    assert "malformed JSON" in msg and "\n" not in msg
    api.modes["em_latest"] = "missing"
    with pytest.raises(ProviderError, match="no field 'carbonIntensity'"):
        em(api).fetch(START)
    # a signal retries those and raises, one line, when nothing can be fallen back on
    with pytest.raises(ProviderError) as first:
        LiveCarbonSignal(em(api), retries=1, start_utc=START, sleep=Sleeps()).intensity(0)
    text = str(first.value)
    assert "after 2 attempt(s)" in text and "carbonIntensity" in text and "\n" not in text
    assert isinstance(first.value, CenasError)


def test_missing_environment_variables_are_named(
    api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    with pytest.raises(ProviderError, match="ELECTRICITYMAPS_TOKEN is not set"):
        em(api)
    monkeypatch.setenv("WATTTIME_USERNAME", WT_USER)
    monkeypatch.delenv("WATTTIME_PASSWORD", raising=False)
    with pytest.raises(ProviderError, match="WATTTIME_PASSWORD is not set") as info:
        wt(api)
    assert WT_USER not in str(info.value)
    # removed after construction: the fetch fails without retrying, and nothing was sent
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", EM_TOKEN)
    provider = em(api)
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN")
    sleeps = Sleeps()
    signal = LiveCarbonSignal(provider, history=history_trace(24), start_utc=START, sleep=sleeps)
    signal.intensity(0)
    assert signal.provenance(0)["attempts"] == 1 and sleeps == []
    assert "ELECTRICITYMAPS_TOKEN" in signal.provenance(0)["error"]
    assert api.requests == []


# --------------------------------------------------------------------------- WattTime
def test_watttime_login_units_and_forecast(api: FakeAPI, creds: None) -> None:
    provider = wt(api)
    reading = provider.fetch(START)
    assert reading.intensity == pytest.approx(800.0 * LB_PER_MWH_TO_G_PER_KWH)
    assert reading.intensity == pytest.approx(362.873896)
    assert reading.provider_time == START + pd.Timedelta(minutes=35)
    assert reading.forecast is not None
    assert reading.forecast[:3] == pytest.approx(np.array([810.0, 820.0, 830.0]) * 0.45359237)
    login_headers = next(h for p, h in api.requests if p == "/login")
    assert login_headers["authorization"].startswith("Basic ")
    provider.fetch(START)
    assert api.logins == 1  # the bearer token is reused
    api.modes["wt"] = "expired-once"
    assert provider.fetch(START).intensity == pytest.approx(362.873896)
    assert api.logins == 2  # logged in again after the 401
    signal = LiveCarbonSignal(provider, start_utc=START, horizon=12, sleep=Sleeps())
    assert signal.forecast(0)[-1] == pytest.approx(920.0 * 0.45359237)


def test_watttime_bad_credentials_are_not_retried(
    api: FakeAPI, creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTTIME_PASSWORD", "pw-wrong-0000")
    with pytest.raises(ProviderError, match="WATTTIME_USERNAME and WATTTIME_PASSWORD") as info:
        wt(api).fetch(START)
    assert info.value.retryable is False
    assert "pw-wrong-0000" not in str(info.value)


# --------------------------------------------------------------------------- no leaks
def test_no_secret_in_errors_provenance_or_logs(
    api: FakeAPI,
    creds: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def capture(exc: BaseException) -> None:
        texts.append(str(exc))
        texts.append(repr(exc))
        texts.append("".join(traceback.format_exception(exc)))

    api.modes["em_latest"] = "500"  # the server echoes the token in its error body
    with pytest.raises(ProviderError) as info:
        em(api).fetch(START)
    capture(info.value)
    assert "***" in str(info.value)  # the echo was there, and was masked
    with pytest.raises(ProviderError) as info:
        LiveCarbonSignal(em(api), retries=1, start_utc=START, sleep=Sleeps()).intensity(0)
    capture(info.value)

    history = history_trace(24)
    signals = [
        LiveCarbonSignal(em(api), history=history, retries=1, start_utc=START, sleep=Sleeps()),
        LiveCarbonSignal(wt(api), history=history, retries=1, start_utc=START, sleep=Sleeps()),
    ]
    api.modes["wt"] = "500"  # echoes the bearer token
    for s in signals:
        s.intensity(0)
        assert s.provenance(0)["status"] == "fallback"
    with pytest.raises(ProviderError) as info:
        wt(api).fetch(START)
    capture(info.value)
    assert "***" in str(info.value)

    # a wrong password: the server echoes the user name and password it decoded
    monkeypatch.setenv("WATTTIME_PASSWORD", WT_PASSWORD + "x")
    with pytest.raises(ProviderError) as info:
        wt(api).fetch(START)
    capture(info.value)
    monkeypatch.setenv("WATTTIME_PASSWORD", WT_PASSWORD)

    dumped = json.dumps([s.provenance_log for s in signals])
    logs = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert any("HTTP 500" in line for line in logs)  # the failures were logged ...
    for secret in SECRETS:
        for text in [*texts, dumped, *logs]:
            assert secret not in text  # ... without any credential
    basic = base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
    assert all(basic not in text for text in [*texts, dumped, *logs])


# --------------------------------------------------------------------------- forecasts
def test_forecaster_is_fitted_on_history_and_fills_in_the_forecast() -> None:
    trace = history_trace(400, start="2022-01-01")
    provider = TraceReplayProvider(trace, trace_start=300, wall_start=START)
    kw: dict[str, Any] = {"lags": 24, "max_horizon": 24, "stride": 4}
    model = make_forecaster("lag-regression", **kw)
    history = trace.window(hours=300)  # the 300 trace hours before the replay start
    signal = LiveCarbonSignal(
        provider, forecaster=model, history=history, horizon=12, start_utc=START, sleep=Sleeps()
    )
    got = signal.forecast(0)
    assert model.fitted
    assert signal.provenance(0)["forecast_source"] == "forecaster"
    # the same model, fitted and asked by hand on the same data (re-stamped onto wall clock)
    data = CarbonTrace(values=trace.values[:301], start=START - pd.Timedelta(hours=300))
    ref = make_forecaster("lag-regression", **kw).fit(data)
    assert np.allclose(got, ref.predict(data, START + pd.Timedelta(hours=1), 12))
    assert not np.allclose(got, np.full(12, trace.values[300]))  # not persistence
    with pytest.raises(ConfigError, match="max_horizon"):
        LiveCarbonSignal(provider, forecaster=model, horizon=48, start_utc=START)


def test_short_provider_forecast_is_completed_and_scale_is_fixed() -> None:
    class Short(CarbonProvider):
        name = "short"

        def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
            return ProviderReading(
                intensity=50.0, hour_utc=hour_utc, forecast=np.array([1.0, 2.0, 3.0])
            )

    signal = LiveCarbonSignal(Short(), horizon=6, start_utc=START, sleep=Sleeps())
    assert np.array_equal(signal.forecast(0), [1.0, 2.0, 3.0, 3.0, 3.0, 3.0])
    prov = signal.provenance(0)
    assert prov["forecast_source"] == "provider"
    assert prov["forecast_hours_from_provider"] == 3 and prov["forecast_fill"] == "persistence"
    assert signal.scale == DEFAULT_SCALE and signal.mode == "live"
    assert LiveCarbonSignal(Short(), scale=420.0, start_utc=START).scale == 420.0
