"""Live carbon-intensity signals: providers of the current grid intensity, and the engine's signal.

CE-NAS (Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural Architecture
Search Framework", NeurIPS 2024) decides every hour how to split GPUs between energy-hungry
training and cheap sampling from the carbon intensity of the grid now and expected over the next
hours. In a simulation both come from a trace (:class:`cenas.engine.signal.CarbonSignal`); in a
live search they come from a *provider* asked once per scheduling step:

* :class:`TraceReplayProvider` replays a :class:`~cenas.carbon.CarbonTrace` (a bundled zone or a
  user CSV) mapped onto wall-clock hours, for demos and tests without network access.
* :class:`ElectricityMapsProvider` reads the Electricity Maps API v3 (average intensity of the
  consumed electricity, gCO2eq/kWh).
* :class:`WattTimeProvider` reads the WattTime API v3 (marginal operating emissions rate,
  converted from lbs/MWh to gCO2eq/kWh).

:class:`LiveCarbonSignal` wraps a provider for the engine: it fetches each step's reading once,
retries failures with exponential back-off, falls back to the last good value (and to a
forecaster, or persistence, for the coming hours) when all retries fail, and records the
provenance of every step. It has the same ``intensity(step)`` / ``forecast(step)`` / ``scale``
interface as the simulator's signal.

Credentials come only from environment variables. Every error, log and provenance text goes
through :func:`cenas._secrets.redact`, so neither a token nor a password ends up in a message.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas import __version__
from cenas._secrets import redact, register_secret
from cenas.carbon._trace import CarbonTrace
from cenas.errors import CenasError, ConfigError

if TYPE_CHECKING:  # the forecasting package imports torch; keep `import cenas.carbon` light
    from cenas.carbon.forecast import Forecaster

_log = logging.getLogger(__name__)
_HOUR = pd.Timedelta(hours=1)
_MAX_BODY = 4 * 1024 * 1024
_USER_AGENT = f"cenas/{__version__} (carbon-aware NAS)"

DEFAULT_SCALE = 1000.0
"""Intensity scale (gCO2eq/kWh) of a :class:`LiveCarbonSignal` without a history trace: a round
number above the hourly intensity of almost every grid (coal-heavy grids peak near 1000)."""

LB_PER_MWH_TO_G_PER_KWH = 0.45359237
"""1 lb/MWh in g/kWh: 453.59237 g per lb divided by 1000 kWh per MWh."""


class ProviderError(CenasError):
    """A carbon-intensity provider that could not give a reading (one-line, redacted message).

    Attributes:
        retryable: Whether trying again may help (a time-out or a server error, not a missing
            credential or a rejected token).
        status: The HTTP status of the failed request, if there was one.
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(_one_line(redact(message)))
        self.retryable = retryable
        self.status = status


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def floor_hour(when: str | pd.Timestamp) -> pd.Timestamp:
    """The UTC hour that contains ``when`` (a naive time is read as UTC).

    Raises:
        ConfigError: If ``when`` cannot be parsed.
    """
    try:
        ts = pd.Timestamp(when)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot parse time {when!r}: {exc}") from None
    if ts is pd.NaT:
        raise ConfigError(f"cannot parse time {when!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("h")


def _now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _hours_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return int((b - a) / _HOUR)


@dataclass(frozen=True)
class ProviderReading:
    """One answer of a provider.

    Attributes:
        intensity: Carbon intensity of the hour asked for, gCO2eq/kWh.
        hour_utc: The hour asked for (UTC, on the hour).
        forecast: Intensity of the hours after ``hour_utc`` (``hour_utc + 1 h``, ``+ 2 h``, ...),
            gCO2eq/kWh, or ``None`` when the provider gives none.
        provider_time: The provider's own time stamp of the value (e.g. the hour its latest
            value belongs to), UTC.
        zone: The provider's zone or region of the value.
        clairvoyant: Whether ``forecast`` is the true future (a replayed trace's own values)
            rather than a prediction.
        forecast_error: Why the provider's forecast is missing, when it tried and failed.
    """

    intensity: float
    hour_utc: pd.Timestamp
    forecast: NDArray[np.float64] | None = None
    provider_time: pd.Timestamp | None = None
    zone: str = ""
    clairvoyant: bool = False
    forecast_error: str | None = None


class CarbonProvider(ABC):
    """A source of the grid's carbon intensity, asked once per scheduling step.

    Attributes:
        name: Short provider name used in messages and provenance (``trace``,
            ``electricitymaps``, ``watttime``).
        zone: The grid zone or region read.
    """

    name: str = "provider"
    zone: str = ""

    @abstractmethod
    def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
        """The intensity of ``hour_utc`` (and, where the provider has one, the coming hours).

        Raises:
            ProviderError: On any failure (HTTP error status, time-out, malformed answer,
                missing field or credential), with a one-line message naming the provider.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(zone={self.zone!r})"


# --------------------------------------------------------------------------- replayed trace
class TraceReplayProvider(CarbonProvider):
    """Replays a carbon-intensity trace on wall-clock hours.

    Wall-clock hour ``wall_start + k h`` reads trace hour ``trace_start + k``, so a live run
    started now can replay, say, a week of CAISO 2022.

    Args:
        trace: The trace (e.g. :func:`~cenas.carbon.load_bundled` or
            :func:`~cenas.carbon.load_trace`).
        trace_start: The trace hour the replay starts at: an offset into the trace, or a time
            inside it.
        wall_start: The wall-clock UTC hour mapped onto ``trace_start`` (default: the current
            hour). Times are floored to the hour.
        clairvoyant: Return the trace's own next ``horizon`` hours as the forecast (perfect
            foresight, for tests and demos; readings are marked ``clairvoyant``). Without it
            the reading has no forecast, so the signal's forecaster fills it in.
        horizon: Hours of the clairvoyant forecast.

    Raises:
        ConfigError: If ``trace_start`` is an offset outside the trace or ``horizon`` < 1.
        TraceError: If ``trace_start`` is a time outside the trace.
    """

    name = "trace"

    def __init__(
        self,
        trace: CarbonTrace,
        trace_start: int | str | pd.Timestamp = 0,
        wall_start: str | pd.Timestamp | None = None,
        *,
        clairvoyant: bool = False,
        horizon: int = 24,
    ) -> None:
        self.trace = trace
        label = trace.source or trace.zone
        if isinstance(trace_start, bool):
            raise ConfigError(f"trace {label}: replay start must be an hour offset or a time")
        if isinstance(trace_start, int | np.integer):
            offset = int(trace_start)
            if not 0 <= offset < len(trace):
                raise ConfigError(
                    f"trace {label}: replay start hour {offset} is outside its {len(trace)} hours"
                )
        else:
            offset = trace.offset_of(trace_start)
        if int(horizon) < 1:
            raise ConfigError(f"trace replay: horizon must be at least 1 h, got {horizon}")
        self.trace_start = offset
        self.wall_start = floor_hour(_now_utc() if wall_start is None else wall_start)
        self.clairvoyant = bool(clairvoyant)
        self.horizon = int(horizon)
        self.zone = trace.zone

    def trace_hour(self, hour_utc: str | pd.Timestamp) -> int:
        """The trace offset a wall-clock hour reads (may lie outside the trace)."""
        return self.trace_start + _hours_between(self.wall_start, floor_hour(hour_utc))

    def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
        hour = floor_hour(hour_utc)
        i = self.trace_hour(hour)
        n = len(self.trace)
        if not 0 <= i < n:
            raise ProviderError(
                f"trace: {hour.isoformat()} maps to hour {i} of trace "
                f"{self.trace.source or self.trace.zone}, outside its {n} hours",
                retryable=False,
            )
        forecast = None
        if self.clairvoyant:
            future = np.asarray(self.trace.values[i + 1 : i + 1 + self.horizon], dtype=np.float64)
            forecast = future.copy() if future.size else None
        return ProviderReading(
            intensity=float(self.trace.values[i]),
            hour_utc=hour,
            forecast=forecast,
            provider_time=self.trace.start + i * _HOUR,
            zone=self.trace.zone,
            clairvoyant=self.clairvoyant,
        )

    def __repr__(self) -> str:
        return (
            f"TraceReplayProvider({self.trace.source or self.trace.zone!r}, "
            f"trace_start={self.trace_start}, wall_start={self.wall_start.isoformat()!r}, "
            f"clairvoyant={self.clairvoyant})"
        )


# --------------------------------------------------------------------------- HTTP helpers
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would forward the credential headers to the new location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """A short, one-line excerpt of an error answer's body (its ``message``/``error`` field
    when it is JSON)."""
    try:
        raw = exc.read(2048)
    except Exception:  # the body is a courtesy; never let it mask the status
        return ""
    finally:
        exc.close()
    text = raw.decode("utf-8", errors="replace").strip() if raw else ""
    if not text:
        return ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "msg"):
            if isinstance(body.get(key), str) and body[key].strip():
                text = body[key]
                break
    text = _one_line(text)
    if len(text) > 160:
        text = text[:157] + "..."
    return f" ({text})"


def _get_json(
    provider: str,
    what: str,
    url: str,
    headers: Mapping[str, str],
    timeout_s: float,
) -> Any:
    """GET ``url`` and parse its JSON answer.

    Args:
        provider: Provider name for messages.
        what: The request as shown in messages (method and path, never credentials).
        url: Full URL (no credentials in it).
        headers: Request headers (credentials go here).
        timeout_s: Socket time-out for connecting and for each read.

    Raises:
        ProviderError: On an HTTP error status, a time-out, a connection failure, an oversized
            or non-UTF-8 answer, or malformed JSON.
    """
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT, **headers}
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            body = response.read(_MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
        detail = _error_detail(exc)
        retryable = code >= 500 or code in (408, 425, 429)
        raise ProviderError(
            f"{provider}: {what}: HTTP {code} {exc.reason}{detail}",
            retryable=retryable,
            status=code,
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise ProviderError(
                f"{provider}: {what}: no answer within {timeout_s:g} s (time-out)"
            ) from None
        raise ProviderError(f"{provider}: {what}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise ProviderError(
            f"{provider}: {what}: no answer within {timeout_s:g} s (time-out)"
        ) from None
    except (http.client.HTTPException, OSError) as exc:
        raise ProviderError(
            f"{provider}: {what}: connection failed ({type(exc).__name__}: {exc})"
        ) from None
    if len(body) > _MAX_BODY:
        raise ProviderError(f"{provider}: {what}: answer larger than {_MAX_BODY >> 20} MiB")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProviderError(f"{provider}: {what}: answer is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ProviderError(
            f"{provider}: {what}: malformed JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None


def _field(provider: str, what: str, obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise ProviderError(f"{provider}: {what}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise ProviderError(f"{provider}: {what}: answer has no field {key!r}")
    return obj[key]


def _number(provider: str, what: str, value: Any, key: str) -> float:
    if value is None:
        raise ProviderError(f"{provider}: {what}: field {key!r} is null (no data)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProviderError(
            f"{provider}: {what}: field {key!r} is not a number ({type(value).__name__})"
        )
    out = float(value)
    if not math.isfinite(out) or out < 0:
        raise ProviderError(f"{provider}: {what}: field {key!r} = {out!r} is not a valid intensity")
    return out


def _time(provider: str, what: str, value: Any, key: str) -> pd.Timestamp:
    if not isinstance(value, str):
        raise ProviderError(f"{provider}: {what}: field {key!r} is not a time stamp")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ProviderError(
            f"{provider}: {what}: cannot parse {key!r} = {value[:40]!r} as a time"
        ) from None
    if ts is pd.NaT:
        raise ProviderError(f"{provider}: {what}: field {key!r} is empty")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _hourly(points: Sequence[tuple[pd.Timestamp, float]]) -> dict[pd.Timestamp, float]:
    """Mean value of each UTC hour that holds points."""
    sums: dict[pd.Timestamp, list[float]] = {}
    for ts, value in points:
        sums.setdefault(ts.floor("h"), []).append(value)
    return {hour: float(np.mean(vals)) for hour, vals in sums.items()}


def _hours_after(
    hourly: Mapping[pd.Timestamp, float], hour: pd.Timestamp
) -> NDArray[np.float64] | None:
    """The values of ``hour + 1 h``, ``hour + 2 h``, ... as long as they are consecutive."""
    out: list[float] = []
    nxt = hour + _HOUR
    while nxt in hourly:
        out.append(hourly[nxt])
        nxt += _HOUR
    return np.asarray(out, dtype=np.float64) if out else None


def _env_secret(provider: str, variable: str, what: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ProviderError(
            f"{provider}: environment variable {variable} is not set; put your {what} there",
            retryable=False,
        )
    register_secret(value)  # also when the variable's name does not look secret
    return value


def _check_timeout(provider: str, timeout_s: float) -> float:
    if not float(timeout_s) > 0:
        raise ConfigError(f"{provider}: timeout_s must be positive, got {timeout_s}")
    return float(timeout_s)


# --------------------------------------------------------------------------- Electricity Maps
class ElectricityMapsProvider(CarbonProvider):
    """The live carbon intensity of an Electricity Maps zone (API v3).

    What this relies on (Electricity Maps API documentation, https://docs.electricitymaps.com,
    formerly https://static.electricitymap.org/api/docs/):

    * authentication by the header ``auth-token: <token>`` on every request;
    * ``GET /v3/carbon-intensity/latest?zone=<zone>`` answers a JSON object with ``zone``,
      ``carbonIntensity`` (gCO2eq/kWh, the consumption mix including imports) and
      ``datetime`` (the hour of the value), among other fields;
    * ``GET /v3/carbon-intensity/forecast?zone=<zone>`` answers ``{"zone": ..., "forecast":
      [{"carbonIntensity": ..., "datetime": ...}, ...]}`` (hourly; a commercial endpoint, so
      its failure alone is not fatal: the reading then has no forecast);
    * the ``emissionFactorType`` parameter (``direct`` or ``lifecycle``) chooses the emission
      factors; the API's default is ``lifecycle``, while cenas's bundled traces are ``direct``.

    Args:
        zone: Electricity Maps zone key, e.g. ``US-CAL-CISO`` or ``DE``.
        base_url: API root.
        token_env: Environment variable holding the API token.
        timeout_s: Socket time-out of each request, seconds.
        forecast: Whether to ask the forecast endpoint too.
        emission_factor_type: ``direct``, ``lifecycle`` or ``None`` (the API's default).

    Raises:
        ProviderError: If the token variable is not set.
        ConfigError: On an empty zone, a non-positive time-out or an unknown emission factor
            type.
    """

    name = "electricitymaps"

    def __init__(
        self,
        zone: str,
        base_url: str = "https://api.electricitymap.org",
        token_env: str = "ELECTRICITYMAPS_TOKEN",
        timeout_s: float = 10.0,
        *,
        forecast: bool = True,
        emission_factor_type: str | None = None,
    ) -> None:
        if not str(zone).strip():
            raise ConfigError("electricitymaps: zone must not be empty")
        if emission_factor_type not in (None, "direct", "lifecycle"):
            raise ConfigError(
                f"electricitymaps: emission_factor_type must be 'direct' or 'lifecycle', "
                f"got {emission_factor_type!r}"
            )
        self.zone = str(zone).strip()
        self.base_url = str(base_url).rstrip("/")
        self.token_env = token_env
        self.timeout_s = _check_timeout(self.name, timeout_s)
        self.want_forecast = bool(forecast)
        self.emission_factor_type = emission_factor_type
        self._token()  # fail early, with the variable's name, if it is not set

    def _token(self) -> str:
        return _env_secret(self.name, self.token_env, "Electricity Maps API token")

    def _request(self, endpoint: str) -> tuple[str, str]:
        params = {"zone": self.zone}
        if self.emission_factor_type is not None:
            params["emissionFactorType"] = self.emission_factor_type
        path = f"/v3/carbon-intensity/{endpoint}?{urllib.parse.urlencode(params)}"
        return f"GET {path}", f"{self.base_url}{path}"

    def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
        hour = floor_hour(hour_utc)
        headers = {"auth-token": self._token()}
        what, url = self._request("latest")
        latest = _get_json(self.name, what, url, headers, self.timeout_s)
        value = _number(
            self.name, what, _field(self.name, what, latest, "carbonIntensity"), "carbonIntensity"
        )
        stamp = latest.get("datetime")
        provider_time = None if stamp is None else _time(self.name, what, stamp, "datetime")
        zone = latest.get("zone") if isinstance(latest.get("zone"), str) else self.zone
        forecast, forecast_error = None, None
        if self.want_forecast:
            try:
                forecast = self._forecast(hour, headers)
            except ProviderError as exc:
                forecast_error = str(exc)
                _log.info(forecast_error)
        return ProviderReading(
            intensity=value,
            hour_utc=hour,
            forecast=forecast,
            provider_time=provider_time,
            zone=zone,
            forecast_error=forecast_error,
        )

    def _forecast(self, hour: pd.Timestamp, headers: Mapping[str, str]) -> NDArray[np.float64]:
        what, url = self._request("forecast")
        answer = _get_json(self.name, what, url, headers, self.timeout_s)
        entries = _field(self.name, what, answer, "forecast")
        if not isinstance(entries, list):
            raise ProviderError(f"{self.name}: {what}: field 'forecast' is not a list")
        points = []
        for j, entry in enumerate(entries):
            where = f"{what}: forecast[{j}]"
            value = _number(
                self.name,
                where,
                _field(self.name, where, entry, "carbonIntensity"),
                "carbonIntensity",
            )
            ts = _time(self.name, where, _field(self.name, where, entry, "datetime"), "datetime")
            points.append((ts, value))
        out = _hours_after(_hourly(points), hour)
        if out is None:
            raise ProviderError(
                f"{self.name}: {what}: no forecast for the hour after {hour.isoformat()}"
            )
        return out


# --------------------------------------------------------------------------- WattTime
class WattTimeProvider(CarbonProvider):
    """The marginal emissions rate (MOER) of a WattTime region (API v3), in gCO2eq/kWh.

    What this relies on (WattTime API v3 documentation, https://docs.watttime.org, and its
    official Python client, github.com/WattTime/watttime-python-client):

    * ``GET /login`` with HTTP basic authentication answers ``{"token": ...}``, a bearer token
      valid for 30 minutes (renewed here after 25 minutes, or at once on an HTTP 401);
    * ``GET /v3/forecast?region=<region>&signal_type=co2_moer&horizon_hours=<h>`` with the
      header ``Authorization: Bearer <token>`` answers ``{"data": [{"point_time": ...,
      "value": ...}, ...], "meta": {"units": "lbs_co2_per_mwh", "generated_at": ..., ...}}``:
      five-minute points from now (the first one a nowcast) to ``h`` hours ahead (0 to 72).
      ``/v3/forecast`` is for subscribers; ``CAISO_NORTH`` is open to every account.
    * ``/v3/signal-index`` is not used: it gives a 0-100 percentile of the recent MOER, not an
      intensity the carbon ledger could charge.

    Units: the MOER comes in lbs CO2 per MWh; 1 lb/MWh = 453.59237 g / 1000 kWh
    = :data:`LB_PER_MWH_TO_G_PER_KWH` (0.45359237) gCO2/kWh. Each hour's value is the mean of
    its five-minute points; the intensity of the hour asked for is the mean of the points in
    that hour (the earliest point if the answer has none in it). Note that a marginal rate is
    not an average one: MOER values (typically 400-1000 g/kWh) are not comparable with
    Electricity Maps' or the bundled traces' averages.

    Args:
        region: WattTime region, e.g. ``CAISO_NORTH``.
        base_url: API root.
        signal_type: ``co2_moer`` (marginal) or ``co2_aoer`` (average), both in lbs/MWh.
        timeout_s: Socket time-out of each request, seconds.
        username_env: Environment variable holding the WattTime user name.
        password_env: Environment variable holding the WattTime password.
        horizon_hours: Hours of forecast to ask for, 0 (nowcast only) to 72.

    Raises:
        ProviderError: If a credential variable is not set.
        ConfigError: On an empty region, another signal type, a non-positive time-out or a
            horizon outside 0..72.
    """

    name = "watttime"
    TOKEN_LIFETIME_S = 25 * 60.0

    def __init__(
        self,
        region: str,
        base_url: str = "https://api.watttime.org",
        signal_type: str = "co2_moer",
        timeout_s: float = 10.0,
        *,
        username_env: str = "WATTTIME_USERNAME",
        password_env: str = "WATTTIME_PASSWORD",
        horizon_hours: int = 24,
    ) -> None:
        if not str(region).strip():
            raise ConfigError("watttime: region must not be empty")
        if signal_type not in ("co2_moer", "co2_aoer"):
            raise ConfigError(
                f"watttime: signal_type must be 'co2_moer' or 'co2_aoer' (intensities in "
                f"lbs/MWh), got {signal_type!r}"
            )
        if not 0 <= int(horizon_hours) <= 72:
            raise ConfigError(f"watttime: horizon_hours must be in 0..72, got {horizon_hours}")
        self.zone = str(region).strip()
        self.region = self.zone
        self.base_url = str(base_url).rstrip("/")
        self.signal_type = signal_type
        self.timeout_s = _check_timeout(self.name, timeout_s)
        self.username_env = username_env
        self.password_env = password_env
        self.horizon_hours = int(horizon_hours)
        self._bearer: str | None = None
        self._bearer_until = 0.0
        self._credentials()  # fail early, naming the variable, if one is not set

    def _credentials(self) -> tuple[str, str]:
        user = _env_secret(self.name, self.username_env, "WattTime user name")
        password = _env_secret(self.name, self.password_env, "WattTime password")
        return user, password

    def _login(self) -> str:
        user, password = self._credentials()
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        register_secret(basic)
        try:
            answer = _get_json(
                self.name,
                "GET /login",
                f"{self.base_url}/login",
                {"Authorization": f"Basic {basic}"},
                self.timeout_s,
            )
        except ProviderError as exc:
            if exc.status in (401, 403):
                raise ProviderError(
                    f"{exc} (check {self.username_env} and {self.password_env})",
                    retryable=False,
                    status=exc.status,
                ) from None
            raise
        token = _field(self.name, "GET /login", answer, "token")
        if not isinstance(token, str) or not token.strip():
            raise ProviderError(f"{self.name}: GET /login: field 'token' is empty")
        register_secret(token)
        self._bearer = token
        self._bearer_until = time.monotonic() + self.TOKEN_LIFETIME_S
        return token

    def _authorised_get(self, what: str, url: str) -> Any:
        token = self._bearer
        if token is None or time.monotonic() >= self._bearer_until:
            token = self._login()
        try:
            return _get_json(
                self.name, what, url, {"Authorization": f"Bearer {token}"}, self.timeout_s
            )
        except ProviderError as exc:
            if exc.status != 401:
                raise
        token = self._login()  # expired or revoked token: log in again, once
        return _get_json(self.name, what, url, {"Authorization": f"Bearer {token}"}, self.timeout_s)

    def fetch(self, hour_utc: pd.Timestamp) -> ProviderReading:
        hour = floor_hour(hour_utc)
        params = {
            "region": self.region,
            "signal_type": self.signal_type,
            "horizon_hours": str(self.horizon_hours),
        }
        path = f"/v3/forecast?{urllib.parse.urlencode(params)}"
        what = f"GET {path}"
        answer = self._authorised_get(what, f"{self.base_url}{path}")
        data = _field(self.name, what, answer, "data")
        if not isinstance(data, list) or not data:
            raise ProviderError(f"{self.name}: {what}: field 'data' is empty or not a list")
        meta = answer.get("meta")
        units = meta.get("units") if isinstance(meta, dict) else None
        if units is not None and units != "lbs_co2_per_mwh":
            raise ProviderError(
                f"{self.name}: {what}: unexpected units {units!r} (expected lbs_co2_per_mwh)",
                retryable=False,
            )
        points = []
        for j, entry in enumerate(data):
            where = f"{what}: data[{j}]"
            value = _number(self.name, where, _field(self.name, where, entry, "value"), "value")
            ts = _time(
                self.name, where, _field(self.name, where, entry, "point_time"), "point_time"
            )
            points.append((ts, value * LB_PER_MWH_TO_G_PER_KWH))
        points.sort(key=lambda p: p[0])
        in_hour = [p for p in points if p[0].floor("h") == hour]
        used = in_hour or points[:1]
        hourly = _hourly(points)
        return ProviderReading(
            intensity=float(np.mean([v for _, v in used])),
            hour_utc=hour,
            forecast=_hours_after(hourly, hour) if self.horizon_hours > 0 else None,
            provider_time=used[0][0],
            zone=self.region,
        )


# --------------------------------------------------------------------------- the live signal
@dataclass
class _Step:
    intensity: float
    forecast: NDArray[np.float64]
    provenance: dict[str, Any]


class LiveCarbonSignal:
    """The engine's carbon signal from a live provider (duck-type compatible with
    :class:`cenas.engine.signal.CarbonSignal`).

    Step ``k`` is the hour :meth:`hour_utc` ``(k)`` = ``start_utc + k * step_hours`` h, floored
    to the hour. The first time a step is asked for (by :meth:`intensity`, :meth:`forecast` or
    :meth:`provenance`) its reading is fetched and cached; later calls never call the provider
    again. A fetch attempt that raises, returns an invalid reading or takes longer than
    ``timeout_s`` is retried up to ``retries`` times, after ``backoff_s``, ``2 backoff_s``,
    ``4 backoff_s``, ... seconds (``sleep`` does the waiting, so tests need not wait). Errors
    that retrying cannot fix (a missing credential, a rejected token, an hour outside a replayed
    trace) are not retried.

    When every attempt fails the step *falls back*: its intensity is the last good value (or,
    before any, the last value of ``history``), and its forecast comes from the forecaster;
    the provenance says ``fallback``. If the very first reading fails with nothing to fall back
    on, :class:`ProviderError` is raised.

    The forecast of a step (the ``horizon`` hours after it) is the provider's when it gives
    one; otherwise, or for the hours beyond the provider's forecast, ``forecaster`` predicts
    them from the data up to and including the step's hour: ``history`` followed by the values
    seen so far (hours without a reading repeat the previous value). An unfitted forecaster is
    fitted on that data once it is long enough (retried as it grows by a day). Without a
    forecaster, or with too little data for it, the forecast is *persistence*: the step's
    intensity repeated.

    ``history`` gives the hours right before ``start_utc``: a trace that spans ``start_utc`` is
    cut there; any other trace (e.g. last year's bundled trace, or the trace a replay reads) is
    taken as the ``len(history)`` hours that end at ``start_utc``, its own time stamps ignored.

    ``scale`` (what policies divide intensities by) is fixed at construction: the ``scale``
    argument if given, else the largest value of ``history`` (at least 1), else
    :data:`DEFAULT_SCALE` (1000 gCO2eq/kWh).

    Args:
        provider: Where readings come from.
        forecaster: A :class:`~cenas.carbon.forecast.Forecaster` (e.g.
            ``load_pretrained(zone)`` or ``make_forecaster("lag-regression")``), or ``None``.
        history: Optional trace of the hours before the start (for the forecaster, the
            fallback and the scale).
        horizon: Hours returned by :meth:`forecast`.
        retries: Retries after a failed first attempt (``retries + 1`` attempts at most).
        backoff_s: Wait before the first retry; doubled before each further one.
        timeout_s: Longest wait for one fetch attempt, seconds, on top of the provider's own
            socket time-outs (catches hangs those miss, e.g. a slowly dripping answer);
            ``None`` waits as long as the provider takes.
        start_utc: Wall-clock start (step 0), floored to the hour; default: the current hour.
        step_hours: Hours per engine step.
        sleep: Function that waits a number of seconds (``time.sleep``).
        scale: Intensity scale for the policies (see above).

    Raises:
        ConfigError: On a non-positive horizon, step or time-out, a negative retry count or
            back-off, or a horizon beyond the forecaster's ``max_horizon``.
    """

    mode = "live"

    def __init__(
        self,
        provider: CarbonProvider,
        forecaster: Forecaster | None = None,
        history: CarbonTrace | None = None,
        horizon: int = 24,
        retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float | None = 30.0,
        start_utc: str | pd.Timestamp | None = None,
        step_hours: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        scale: float | None = None,
    ) -> None:
        if int(horizon) < 1:
            raise ConfigError(f"live carbon signal: horizon must be at least 1 h, got {horizon}")
        if int(retries) < 0:
            raise ConfigError(f"live carbon signal: retries must be >= 0, got {retries}")
        if not float(backoff_s) >= 0:
            raise ConfigError(f"live carbon signal: backoff_s must be >= 0, got {backoff_s}")
        if timeout_s is not None and not float(timeout_s) > 0:
            raise ConfigError(f"live carbon signal: timeout_s must be positive, got {timeout_s}")
        if not float(step_hours) > 0:
            raise ConfigError(f"live carbon signal: step_hours must be positive, got {step_hours}")
        if forecaster is not None and int(horizon) > forecaster.max_horizon:
            raise ConfigError(
                f"live carbon signal: horizon {horizon} h exceeds forecaster "
                f"{forecaster.name}'s max_horizon of {forecaster.max_horizon} h"
            )
        if scale is not None and not float(scale) > 0:
            raise ConfigError(f"live carbon signal: scale must be positive, got {scale}")
        self.provider = provider
        self.forecaster = forecaster
        self.horizon = int(horizon)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.timeout_s = None if timeout_s is None else float(timeout_s)
        self.start_utc = floor_hour(_now_utc() if start_utc is None else start_utc)
        self.step_hours = float(step_hours)
        self._sleep = sleep
        self.history = history
        self._history_values = self._anchor(history)
        if scale is not None:
            self.scale = float(scale)
        elif self._history_values.size:
            self.scale = float(max(self._history_values.max(), 1.0))
        else:
            self.scale = DEFAULT_SCALE
        self._steps: dict[int, _Step] = {}
        self._observed: dict[pd.Timestamp, float] = {}
        self._last_good: float | None = None
        self._fit_tried_at: int | None = None
        self._lock = threading.RLock()
        self.provenance_log: list[dict[str, Any]] = []
        """Provenance of every fetched step, in the order they were fetched."""

    # ---------------------------------------------------------------- public interface
    def hour_utc(self, step: int) -> pd.Timestamp:
        """Wall-clock UTC hour of step ``step``."""
        return (self.start_utc + pd.Timedelta(hours=int(step) * self.step_hours)).floor("h")

    def intensity(self, step: int) -> float:
        """Carbon intensity of step ``step``, gCO2eq/kWh (fetched on first use).

        Raises:
            ProviderError: If the first reading fails and there is nothing to fall back on.
        """
        return self._step(step).intensity

    def forecast(self, step: int) -> NDArray[np.float64]:
        """Intensity of the ``horizon`` hours after step ``step``'s hour, gCO2eq/kWh."""
        return self._step(step).forecast.copy()

    def provenance(self, step: int) -> dict[str, Any]:
        """Where step ``step``'s values came from (a JSON-safe dict): ``step``, ``hour_utc``,
        ``provider``, ``zone``, ``status`` (``ok``/``fallback``), ``attempts``, ``error``
        (redacted, ``None`` when ok), ``intensity``, ``intensity_source``
        (``provider``/``last-value``/``history``), ``provider_time``, ``forecast_source``
        (``provider``/``forecaster``/``persistence``), ``forecast_hours_from_provider``,
        ``forecast_fill`` (what completed a short provider forecast, or ``None``),
        ``forecast_error`` (why the provider's forecast is missing), ``clairvoyant``,
        ``fetched_at``."""
        return dict(self._step(step).provenance)

    def observed_trace(self) -> CarbonTrace | None:
        """The history plus every hour seen so far, as one trace (``None`` before any)."""
        with self._lock:
            if not self._observed and not self._history_values.size:
                return None
            last = max(self._observed) if self._observed else self.start_utc - _HOUR
            return self._data_until(last)

    # ---------------------------------------------------------------- internals
    def _anchor(self, history: CarbonTrace | None) -> NDArray[np.float64]:
        if history is None:
            return np.zeros(0)
        if history.start < self.start_utc <= history.end:
            n = _hours_between(history.start, self.start_utc)
            return np.asarray(history.values[:n], dtype=np.float64).copy()
        _log.info(
            "live carbon signal: history %s (%s to %s) taken as the %d hours before %s",
            history.source or history.zone,
            history.start.isoformat(),
            history.end.isoformat(),
            len(history),
            self.start_utc.isoformat(),
        )
        return np.asarray(history.values, dtype=np.float64).copy()

    def _data_until(self, hour: pd.Timestamp) -> CarbonTrace:
        """History plus observed values up to and including ``hour``, gaps forward-filled."""
        n_hist = int(self._history_values.size)
        first = self.start_utc - n_hist * _HOUR
        n = _hours_between(first, hour) + 1
        values = np.full(n, np.nan)
        values[: min(n_hist, n)] = self._history_values[: min(n_hist, n)]
        for ts, value in self._observed.items():
            i = _hours_between(first, ts)
            if 0 <= i < n:
                values[i] = value
        filled = pd.Series(values).ffill().bfill().to_numpy(dtype=np.float64)
        return CarbonTrace(
            values=filled,
            start=first,
            zone=self.provider.zone or "live",
            source=f"live:{self.provider.name}",
        )

    def _step(self, step: int) -> _Step:
        if int(step) < 0:
            raise ConfigError(f"live carbon signal: step must be >= 0, got {step}")
        key = int(step)
        with self._lock:
            cached = self._steps.get(key)
            if cached is None:
                cached = self._fetch_step(key)
                self._steps[key] = cached
                self.provenance_log.append(cached.provenance)
            return cached

    def _attempt(self, hour: pd.Timestamp) -> ProviderReading:
        name = self.provider.name
        if self.timeout_s is None:
            reading = self.provider.fetch(hour)
        else:
            box: dict[str, Any] = {}

            def run() -> None:
                try:
                    box["reading"] = self.provider.fetch(hour)
                except BaseException as exc:  # handed to the caller below
                    box["error"] = exc

            worker = threading.Thread(target=run, name=f"cenas-carbon-{name}", daemon=True)
            worker.start()
            worker.join(self.timeout_s)
            if worker.is_alive():  # abandoned: a daemon thread, it cannot block the exit
                raise ProviderError(
                    f"{name}: no reading for {hour.isoformat()} within {self.timeout_s:g} s "
                    "(time-out)"
                )
            if "error" in box:
                raise box["error"]
            reading = box["reading"]
        if not isinstance(reading, ProviderReading):
            raise ProviderError(f"{name}: fetch returned {type(reading).__name__}, not a reading")
        if not (math.isfinite(reading.intensity) and reading.intensity >= 0):
            raise ProviderError(f"{name}: invalid intensity {reading.intensity!r}")
        return reading

    def _fetch_step(self, step: int) -> _Step:
        hour = self.hour_utc(step)
        name = self.provider.name
        attempts, error = 0, None
        reading: ProviderReading | None = None
        for attempt in range(self.retries + 1):
            attempts += 1
            try:
                reading = self._attempt(hour)
                break
            except ProviderError as exc:
                error, retryable = str(exc), exc.retryable
            except Exception as exc:  # a provider bug must not stop a days-long search
                error = redact(
                    _one_line(f"{name}: fetch failed unexpectedly ({type(exc).__name__}: {exc})")
                )
                retryable = True
            _log.warning(
                redact(
                    f"carbon provider {name}: attempt {attempts}/{self.retries + 1} for "
                    f"{hour.isoformat()} failed: {error}"
                )
            )
            if not retryable or attempt == self.retries:
                break
            self._sleep(self.backoff_s * 2.0**attempt)
        fetched_at = _now_utc().isoformat()

        if reading is not None:
            status, value, source = "ok", float(reading.intensity), "provider"
            self._last_good = value
            self._observed[hour] = value
            provided = reading.forecast
            error = None
        else:
            if self._last_good is not None:
                value, source = self._last_good, "last-value"
            elif self._history_values.size:
                value, source = float(self._history_values[-1]), "history"
            else:
                raise ProviderError(
                    f"{name}: no carbon intensity for {hour.isoformat()} after {attempts} "
                    f"attempt(s), and no earlier value or history to fall back on: {error}",
                    retryable=False,
                )
            status, provided = "fallback", None
            _log.warning(
                redact(
                    f"carbon provider {name}: step {step} ({hour.isoformat()}) falls back to "
                    f"the {source} {value:g} gCO2eq/kWh"
                )
            )

        forecast, f_source, n_provider, fill = self._complete_forecast(hour, value, provided)
        provenance: dict[str, Any] = {
            "step": step,
            "hour_utc": hour.isoformat(),
            "provider": name,
            "zone": (reading.zone if reading is not None and reading.zone else "")
            or self.provider.zone,
            "status": status,
            "attempts": attempts,
            "error": None if error is None else redact(error),
            "intensity": value,
            "intensity_source": source,
            "provider_time": None
            if reading is None or reading.provider_time is None
            else pd.Timestamp(reading.provider_time).isoformat(),
            "forecast_source": f_source,
            "forecast_hours_from_provider": n_provider,
            "forecast_fill": fill,
            "forecast_error": None
            if reading is None or reading.forecast_error is None
            else redact(reading.forecast_error),
            "clairvoyant": bool(reading is not None and reading.clairvoyant and n_provider > 0),
            "fetched_at": fetched_at,
        }
        return _Step(intensity=value, forecast=forecast, provenance=provenance)

    def _complete_forecast(
        self, hour: pd.Timestamp, value: float, provided: NDArray[np.float64] | None
    ) -> tuple[NDArray[np.float64], str, int, str | None]:
        """The step's forecast, its source, hours taken from the provider, and what filled
        the rest of a short provider forecast."""
        h = self.horizon
        base = np.zeros(0)
        if provided is not None:
            base = np.asarray(provided, dtype=np.float64).reshape(-1)[:h]
            if not np.all(np.isfinite(base)):
                base = np.zeros(0)
            base = np.maximum(base, 0.0)
        k = int(base.size)
        if k == h:
            return base.copy(), "provider", k, None
        model = self._model_forecast(hour)
        if model is not None:
            tail, how = model[k:h], "forecaster"
        else:
            last = float(base[-1]) if k else value
            tail, how = np.full(h - k, last), "persistence"
        out = np.concatenate([base, tail]).astype(np.float64)
        if k:
            return out, "provider", k, how
        return out, how, 0, None

    def _model_forecast(self, hour: pd.Timestamp) -> NDArray[np.float64] | None:
        model = self.forecaster
        if model is None:
            return None
        data = self._data_until(hour)
        if len(data) < model.min_history:
            return None
        if not model.fitted:
            n = len(data)
            if self._fit_tried_at is not None and n < self._fit_tried_at + 24:
                return None
            self._fit_tried_at = n
            try:
                model.fit(data)
            except (ValueError, RuntimeError) as exc:  # ForecastError is a ValueError
                _log.info(redact(_one_line(f"live carbon signal: cannot fit {model.name}: {exc}")))
                return None
        try:
            pred = model.predict(data, hour + _HOUR, self.horizon)
        except (ValueError, RuntimeError) as exc:
            _log.info(redact(_one_line(f"live carbon signal: {model.name} forecast failed: {exc}")))
            return None
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if pred.size < self.horizon or not np.all(np.isfinite(pred)):
            return None
        return np.maximum(pred[: self.horizon], 0.0)

    def __repr__(self) -> str:
        return (
            f"LiveCarbonSignal({self.provider!r}, horizon={self.horizon}, "
            f"start_utc={self.start_utc.isoformat()!r}, steps fetched={len(self._steps)})"
        )


__all__ = [
    "DEFAULT_SCALE",
    "LB_PER_MWH_TO_G_PER_KWH",
    "CarbonProvider",
    "ElectricityMapsProvider",
    "LiveCarbonSignal",
    "ProviderError",
    "ProviderReading",
    "TraceReplayProvider",
    "WattTimeProvider",
    "floor_hour",
]
