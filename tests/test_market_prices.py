"""Prices from CSV (both Yahoo layouts) and from yfinance driven by recorded Yahoo responses."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from requests.adapters import BaseAdapter

from market.errors import PriceDataError
from market.prices import PRICE_COLUMNS, fetch_yahoo, load_csv_prices
from market.returns import session_returns
from tests.conftest import shared_path

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,100.0,101.0,99.0,100.5,50.25,1000
2024-01-03,100.5,102.0,100.0,101.5,50.75,1100
2024-01-04,null,null,null,null,null,null
2024-01-05,101.0,103.0,100.5,102.0,51.0,900
"""
ADJUSTED_CSV = """Date,Close,High,Low,Open,Volume
2024-01-02,37.5,37.6,37.4,37.55,6100
2024-01-03,37.9,38.0,37.6,37.7,29400
"""


@pytest.fixture
def csv_dir(tmp_path):
    (tmp_path / "IWM.csv").write_text(YAHOO_CSV)
    (tmp_path / "tlt.csv").write_text(ADJUSTED_CSV)
    return tmp_path


def test_csv_both_layouts(csv_dir):
    df = load_csv_prices(csv_dir, ["iwm", "TLT"])
    assert list(df.columns) == PRICE_COLUMNS
    iwm = df[df.ticker == "IWM"]
    assert len(iwm) == 3  # the null row is dropped
    assert iwm["adj_close"].tolist() == [50.25, 50.75, 51.0]
    assert iwm["close"].tolist() == [100.5, 101.5, 102.0]
    assert set(iwm["provider"]) == {"csv"}
    tlt = df[df.ticker == "TLT"]
    assert tlt["adj_close"].tolist() == tlt["close"].tolist() == [37.5, 37.9]
    assert set(tlt["provider"]) == {"csv-adjusted"}
    assert df["date"].dtype == "datetime64[ns]"


def test_csv_date_window_and_errors(csv_dir):
    df = load_csv_prices(csv_dir, "IWM", start="2024-01-03", end="2024-01-05")
    assert df["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-03", "2024-01-05"]
    with pytest.raises(PriceDataError, match=r"no price file for SPY in .*expected SPY\.csv; found IWM, tlt"):
        load_csv_prices(csv_dir, ["SPY"])
    with pytest.raises(PriceDataError, match="does not exist"):
        load_csv_prices(csv_dir / "nope", ["IWM"])
    (csv_dir / "BAD.csv").write_text("when,price\n2024-01-02,1\n")
    with pytest.raises(PriceDataError, match="expected Date,Open,High,Low,Close,Adj Close,Volume"):
        load_csv_prices(csv_dir, ["BAD"])
    with pytest.raises(PriceDataError, match="not a ticker"):
        load_csv_prices(csv_dir, ["IWM; drop"])
    with pytest.raises(PriceDataError, match="end 2024-01-01 is before start 2024-03-01"):
        load_csv_prices(csv_dir, ["IWM"], start="2024-03-01", end="2024-01-01")
    with pytest.raises(PriceDataError, match="between 2099-01-01 and its last row"):
        load_csv_prices(csv_dir, ["IWM"], start="2099-01-01")


def test_returns_from_adjusted_close(csv_dir):
    r = session_returns(load_csv_prices(csv_dir, ["IWM"]))
    assert r["ret"].tolist() == pytest.approx([50.75 / 50.25 - 1, 51.0 / 50.75 - 1])
    assert r["log_ret"].tolist() == pytest.approx(np.log([50.75 / 50.25, 51.0 / 50.75]).tolist())


@pytest.mark.needs_shared
def test_real_adjusted_2026_csvs_agree_with_raw_layout():
    adj = shared_path("data", "market", "adjusted_2026")
    raw = shared_path("data", "market")
    a = session_returns(load_csv_prices(adj, ["IWM", "TLT"], start="2010-01-01", end="2023-10-10"))
    b = session_returns(load_csv_prices(raw, ["IWM", "TLT"], start="2010-01-01", end="2023-10-10"))
    m = a.merge(b, on=["ticker", "date"])
    assert len(m) > 6000
    assert np.abs(m["ret_x"] - m["ret_y"]).max() < 1e-4


# ---------------------------------------------------------------- yfinance with recorded responses


class RecordedYahoo(BaseAdapter):
    """Serves recorded chart responses by path; every other Yahoo URL answers 404."""

    def __init__(self, charts: dict[str, tuple[int, bytes]]):
        super().__init__()
        self.charts = charts
        self.requests: list[str] = []

    def send(self, request, **kwargs):
        self.requests.append(request.url)
        resp = requests.Response()
        resp.request = request
        resp.url = request.url
        path = requests.utils.urlparse(request.url).path
        status, body = 404, b""
        if path.startswith("/v8/finance/chart/"):
            status, body = self.charts.get(path.rsplit("/", 1)[-1], (404, _NOT_FOUND))
        resp.status_code = status
        resp._content = body
        resp.headers["content-type"] = "application/json;charset=utf-8"
        resp.encoding = "utf-8"
        return resp

    def close(self):
        pass


_NOT_FOUND = b'{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}'


@pytest.fixture
def yahoo(tmp_path):
    import yfinance as yf
    from yfinance.data import YfData

    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    YfData.cache_get.cache_clear()

    def make(charts):
        adapter = RecordedYahoo(charts)
        session = requests.Session()
        session.mount("https://", adapter)
        return session, adapter

    yield make
    YfData.cache_get.cache_clear()


def _chart(name: str) -> tuple[int, bytes]:
    return 200, shared_path("fixtures", "yahoo", name).read_bytes()


@pytest.mark.needs_shared
def test_fetch_yahoo_from_recorded_chart(yahoo):
    status, body = _chart("chart_QQQ_1d_2020_full_year_dividends.json")
    session, adapter = yahoo({"QQQ": (status, body)})
    df = fetch_yahoo(["QQQ"], start="2020-01-01", end="2020-12-31", session=session)
    chart = json.loads(body)["chart"]["result"][0]
    assert len(df) == len(chart["timestamp"]) == 253
    assert list(df.columns) == PRICE_COLUMNS
    assert df["date"].iloc[0] == pd.Timestamp("2020-01-02")
    assert df["close"].iloc[0] == pytest.approx(chart["indicators"]["quote"][0]["close"][0])
    assert df["adj_close"].iloc[0] == pytest.approx(chart["indicators"]["adjclose"][0]["adjclose"][0])
    assert df["adj_close"].iloc[0] < df["close"].iloc[0]  # dividends after it make it lower
    assert set(df["provider"]) == {"yahoo"}
    assert any("/v8/finance/chart/QQQ" in u for u in adapter.requests)


@pytest.mark.needs_shared
def test_fetch_yahoo_unknown_symbol_is_one_line_naming_it(yahoo):
    session, _ = yahoo({"SIX": (404, shared_path("fixtures", "yahoo", "chart_SIX_404_not_found_rec2024.json").read_bytes())})
    with pytest.raises(PriceDataError) as info:
        fetch_yahoo(["SIX"], start="2020-01-01", end="2020-12-31", session=session)
    msg = str(info.value)
    assert "\n" not in msg and "SIX" in msg
    assert "no data" in msg.lower()


def test_fetch_yahoo_unreachable_is_fast_and_names_tickers(yahoo):
    class Down(BaseAdapter):
        def send(self, request, **kwargs):
            raise requests.exceptions.ConnectionError(f"cannot connect to {request.url}")

        def close(self):
            pass

    import time

    session = requests.Session()
    session.mount("https://", Down())
    t0 = time.perf_counter()
    with pytest.raises(PriceDataError) as info:
        fetch_yahoo("IWM,TLT", start="2020-01-01", session=session, timeout=2)
    msg = str(info.value)
    assert "\n" not in msg and "IWM" in msg and "TLT" in msg
    assert time.perf_counter() - t0 < 10
