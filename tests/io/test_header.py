"""Tests of the one header type, km3flow.dataclasses.Header, as the EVT, offline ROOT and HDF5
readers give it and the HDF5 sink writes it.

Reference values: km3io 1.2.6's ``OfflineReader(path).header`` (each file read in a fresh
process: km3io 1.2.6 appends ``field_<i>`` names to its shared definitions when a line has
more values than names, so later files' ``seed`` grows ``field_3``/``field_4``), converted
with ``{tag: entry._asdict() or entry}``, in a separate venv (/tmp/refvenv) and written down
here. km3io cannot read EVT files nor the old ``Header`` object of km3net_offline.root (it
warns "Your file header has an unsupported format" and gives None); the EVT header of
gseagen_v7.0.0_numuCC_diffuse.evt is compared with km3io's header of the aanet file made from
it, gseagen_v7.0.0_numuCC_diffuse.aa.root.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from km3flow import Pipeline
from km3flow.dataclasses import HEADER_KEY, Header
from km3flow.exceptions import FormatError
from km3flow.io.evt import EvtPump, read_evt_header
from km3flow.io.hdf5 import HDF5Header, HDF5Pump, HDF5Sink, header2table
from km3flow.io.root import OfflinePump, read_header

GSEAGEN_EVT = "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"
GSEAGEN_AA = "gseagen/gseagen_v7.0.0_numuCC_diffuse.aa.root"
MUPAGE_EVT = "mupage/mcv5.0.mupage_1G.5.evt"

KM3IO_HEADERS = {
    'offline/numucc.root': {
        'DAQ': {'livetime': 394},
        'PDF': {'i1': 4, 'i2': 58},
        'can': {'zmin': 0, 'zmax': 1027, 'r': 888.4},
        'can_user': {'field_0': 0.0, 'field_1': 1027.0, 'field_2': 888.4},
        'coord_origin': {'x': 0, 'y': 0, 'z': 0},
        'cut_in': {'Emin': 0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'cut_nu': {'Emin': 100, 'Emax': 100000000.0, 'cosTmin': -1, 'cosTmax': 1},
        'cut_primary': {'Emin': 0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'cut_seamuon': {'Emin': 0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'decay': {'field_0': 'doesnt', 'field_1': 'happen'},
        'detector': 'NOT',
        'drawing': 'Volume',
        'genhencut': {'gDir': 2000, 'Emin': 0},
        'genvol': {
            'zmin': 0,
            'zmax': 1027,
            'r': 888.4,
            'volume': 2649000000.0,
            'numberOfEvents': 100000,
        },
        'kcut': 2,
        'livetime': {'numberOfSeconds': 0, 'errorOfSeconds': 0},
        'model': {
            'interaction': 1,
            'muon': 2,
            'scattering': 0,
            'numberOfEnergyBins': 1,
            'field_4': 12,
        },
        'ngen': 100000.0,
        'norma': {'primaryFlux': 0, 'numberOfPrimaries': 0},
        'nuflux': {
            'field_0': 0,
            'field_1': 3,
            'field_2': 0,
            'field_3': 0.5,
            'field_4': 0.0,
            'field_5': 1.0,
            'field_6': 3.0,
        },
        'physics': {'program': 'GENHEN', 'version': '7.2-220514', 'date': 181116, 'time': 1138},
        'seed': {'program': 'GENHEN', 'level': 3, 'iseed': 305765867, 'field_3': 0, 'field_4': 0},
        'simul': {'program': 'JSirene', 'version': 11012, 'date': '11/17/18', 'time': 7},
        'sourcemode': 'diffuse',
        'spectrum': {'alpha': -1.4},
        'start_run': {'run_id': 1},
        'target': 'isoscalar',
        'usedetfile': 'false',
        'xlat_user': 0.63297,
        'xparam': 'OFF',
        'zed_user': {'field_0': 0.0, 'field_1': 3450.0},
    },
    'gseagen/gseagen_v7.0.0_numuCC_diffuse.aa.root': {
        'GXMLPATH': '/sps/km3net/users/agarcia/software/gseagen/dat',
        'XsecFile': '/sps/km3net/users/agarcia/genie_generator/genie_xsec/GHE19_00c_00_000.xml',
        'bedrock': 0.0,
        'coord_site': {'field_0': 0.747, 'field_1': 0.108},
        'cut_nu': {'Emin': 100.0, 'Emax': 200.0, 'cosTmin': -1.0, 'cosTmax': 1.0},
        'depth': 3450.0,
        'drawing': 'surface',
        'fixedcan': {'xcenter': 0.0, 'ycenter': 0.0, 'zmin': 0.0, 'zmax': 1027.0, 'radius': 888.4},
        'flux': {'type': 14, 'key': 'FUNC1', 'file_1': '1E-5*pow(x,-2)', 'file_2': None},
        'genvol': {
            'zmin': 340.454,
            'zmax': 1800.259,
            'r': 1661.659,
            'volume': 24100000000.0,
            'numberOfEvents': 1000.0,
        },
        'prop_code': 'MUSIC',
        'seed': {'program': 'gSeaGen', 'level': 12345, 'iseed': None},
        'simul': {'program': 'gSeaGen', 'version': 'dev', 'date': 201124, 'time': 135521},
        'simul_1': {'field_0': 'GENIE', 'field_1': '3.0.2', 'field_2': 201124, 'field_3': 135521},
        'simul_2': {
            'field_0': 'GENIE_REWEIGHT',
            'field_1': '1.0.0',
            'field_2': 201124,
            'field_3': 135521,
        },
        'source_mode': 'DIFFUSE',
        'spectrum': {'alpha': -1.4},
        'start_run': {'run_id': 100000000},
        'tgen': 31556926.0,
        'tune': 'GHE19_00c_00_000',
    },
    'gseagen/DAT000001.gSeaGen.1.aa.root': {
        'GXMLPATH': ('/pbs/throng/km3net/src/gSeaGen/genie3.00.02-hedis-km3net/Generator//genie_xs'
            'ec/gSeaGen'),
        'coord_site': {'field_0': 0.632973, 'field_1': 0.280998},
        'cut_nu': {'Emin': 300.0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'cut_primary': {'Emin': 1100000.0, 'Emax': 90000000.0, 'cosTmin': -1.0, 'cosTmax': -0.0523},
        'cut_seamuon': {'Emin': 1000.0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'depth': 3450.0,
        'drawing': 'surface',
        'fixedcan': {'xcenter': 0.0, 'ycenter': 0.0, 'zmin': 0.0, 'zmax': 957.0, 'radius': 818.4},
        'flux': {
            'type': 2212,
            'key': 'GST3',
            'file_1': '/sps/km3net/users/kakiczi/DAT000001',
            'file_2': None,
        },
        'genvol': {'zmin': 0, 'zmax': 0, 'r': 0, 'volume': 0, 'numberOfEvents': 10.0},
        'physics': {'program': 'CORSIKA', 'version': 'UrQMD', 'date': 'SIBYLL-2.3d', 'time': None},
        'physics_1': {'field_0': 'gSeaGen', 'field_1': 'PROPOSAL', 'field_2': '6.1.5'},
        'primary': 2212,
        'seed': {'program': 'CORSIKA', 'level': 1000001, 'iseed': 5000001},
        'seed_1': {'field_0': 'gSeaGen', 'field_1': -1554050128},
        'simul': {'program': 'CORSIKA', 'version': 7.741, 'date': 220323, 'time': 0},
        'simul_1': {
            'field_0': 'gSeaGen',
            'field_1': 'v7.3.0-rc4-5-g71ec324',
            'field_2': 220324,
            'field_3': 907,
        },
        'source_mode': 'FILE',
        'spectrum': {'alpha': 2.0},
        'start_run': {'run_id': 1},
    },
    'offline/mcv6.0.gsg_muon_highE-CC_50-500GeV.km3sim.jterbr00008357.jorcarec.aanet.905.root': {
        'DAQ': {'livetime': 74.4},
        'GXMLPATH': '/genie/genie_generator/genie_xsec/v3_00_02/NULL/G1802a00000-k500-e1000/data',
        'XsecFile': 'gxspl-FNALsmall.xml',
        'coord_site': {'field_0': 0.747, 'field_1': 0.10763},
        'cut_nu': {'Emin': 50, 'Emax': 500, 'cosTmin': -1, 'cosTmax': 1},
        'depth': 2440,
        'detector': {
            'field_0': 'KM3Sim',
            'field_1': 'KM3NeT_00000049_00008357.v6.0_PMTeff_merge8.K40.gdml',
        },
        'drawing': 'surface',
        'fixedcan': {'xcenter': 457.8, 'ycenter': 574.3, 'zmin': 0, 'zmax': 275.6, 'radius': 108.2},
        'flux': {'type': 14, 'key': 'FUNC1', 'file_1': '1E-5*pow(x,-2)', 'file_2': None},
        'genvol': {
            'zmin': -742.896,
            'zmax': 2019.92,
            'r': 1852.52,
            'volume': 43900000000.0,
            'numberOfEvents': 50000,
        },
        'physics': {'program': 'GENIE', 'version': '3.0.2', 'date': None, 'time': None},
        'physics_1': {'field_0': 'GENIE_REWEIGHT', 'field_1': '1.0.0'},
        'physics_2': {'field_0': 'GENIE_TUNE', 'field_1': 'G18_02a_00_000', 'field_2': 'CC'},
        'physics_3': {'field_0': 'gSeaGen', 'field_1': 'PROPOSAL', 'field_2': '6.1.5'},
        'primary': 14,
        'seed': {'program': 'gSeaGen', 'level': 1096453, 'iseed': None},
        'seed_1': {'field_0': 'KM3Sim', 'field_1': 4286369715},
        'simul': {'program': 'gSeaGen', 'version': 'v7.0.0', 'date': 210412, 'time': 909},
        'simul_1': {'field_0': 'KM3Sim', 'field_1': 'v2.1.5', 'field_2': 210412, 'field_3': 920},
        'source_mode': 'DIFFUSE',
        'spectrum': {'alpha': -2},
        'start_run': {'run_id': 905},
    },
    'offline/mcv5.0.DAT004340.propa.sirene.jte.jchain.aanet.4340.root': {
        'DAQ': {'livetime': 3.3},
        'can': {'zmin': 0, 'zmax': 977.5, 'r': 324.6},
        'coord_origin': {'x': 0, 'y': 0, 'z': 0},
        'cut_in': {'Emin': 0, 'Emax': 1000000000.0, 'cosTmin': -1, 'cosTmax': -0.052},
        'cut_nu': {'Emin': 0, 'Emax': 0, 'cosTmin': 0, 'cosTmax': 0},
        'cut_primary': {'Emin': 1000, 'Emax': 1000000000.0, 'cosTmin': -1, 'cosTmax': -0.052},
        'cut_seamuon': {'Emin': 1000, 'Emax': 1000000000.0, 'cosTmin': -1, 'cosTmax': -0.052},
        'genhencut': {'gDir': 0, 'Emin': 0},
        'genvol': {'zmin': 0, 'zmax': 0, 'r': 0, 'volume': 0, 'numberOfEvents': 0},
        'livetime': {'numberOfSeconds': 0, 'errorOfSeconds': 0},
        'norma': {'primaryFlux': 1, 'numberOfPrimaries': 1000},
        'physics': {'program': 'CORSIKA', 'version': 7.64, 'date': 181111, 'time': 1211},
        'physics_1': {'field_0': 'Corant', 'field_1': '4.2.Unve'},
        'physics_2': {'field_0': 'propa', 'field_1': 9310},
        'propag': {
            'field_0': 'MUSIC',
            'field_1': 'seawater',
            'field_2': '02-03',
            'field_3': 190204,
            'field_4': 1643,
        },
        'seabottom': 0,
        'seed': {'program': 'corsika', 'level': 1005340, 'iseed': 5004340},
        'seed_1': {'field_0': 'music', 'field_1': 3, 'field_2': 1},
        'simul': {'program': 'JSirene', 'version': 11510, 'date': '02/06/19', 'time': '07:07:07'},
        'spectrum': {'alpha': 0},
        'start_run': {'run_id': 4340},
    },
}


def _typed(header):
    """{tag: {field: (type, value)}}: equal only when the values have the same types too."""
    def typed(v):
        return (type(v).__name__, v)
    return {t: ({k: typed(x) for k, x in v.items()} if isinstance(v, dict) else typed(v))
            for t, v in header.items()}


@pytest.mark.parametrize("name", list(KM3IO_HEADERS))
def test_offline_headers_equal_km3io(name, testdata):
    header = read_header(testdata(name))
    assert isinstance(header, Header)
    assert _typed(header.as_dict()) == _typed(KM3IO_HEADERS[name])
    # entries are namedtuples with km3io's field names and order, or single values
    for tag, ref in KM3IO_HEADERS[name].items():
        entry = header[tag]
        if isinstance(ref, dict):
            assert entry._fields == tuple(ref) and tuple(entry) == tuple(ref.values())
            assert getattr(header, tag) is entry if tag.isidentifier() else True
        else:
            assert entry == ref


def test_offline_file_with_old_header_object_has_none(testdata):
    # km3io 1.2.6: None and the warning "Your file header has an unsupported format"
    assert read_header(testdata("offline/km3net_offline.root")) is None
    with OfflinePump(filename=testdata("offline/km3net_offline.root")) as pump:
        assert pump.header is None and HEADER_KEY not in pump[0]


def test_evt_header_equals_km3io_of_the_aanet_file(testdata):
    evt = read_evt_header(testdata(GSEAGEN_EVT)).as_dict()
    ref = dict(KM3IO_HEADERS[GSEAGEN_AA])
    # the aanet file spells one tag differently (Jpp renamed it); its value is the same
    assert evt.pop("XSecFile") == ref.pop("XsecFile")
    assert _typed(evt) == _typed(ref)


def test_mupage_and_corsika_keys(testdata):
    mupage = read_evt_header(testdata(MUPAGE_EVT))
    assert mupage.livetime == (0.0738, 0.02)
    assert mupage.livetime._fields == ("numberOfSeconds", "errorOfSeconds")
    assert mupage.norma == (0, 20) and mupage.seabottom == 2425.0
    assert mupage.seed == ("MUPAGE-MT19937", 3, 1210269285, 0, 0)
    assert mupage.simul.version == "v4.0-2-g8eaa3c7-191009"
    assert len(mupage.mupage_flux_params) == 40 and mupage.mupage_flux_params.field_39 == 0.276
    corsika = read_header(testdata("gseagen/DAT000001.gSeaGen.1.aa.root"))
    assert corsika.primary == 2212 and corsika.flux.key == "GST3"
    assert corsika.cut_primary.Emin == 1100000.0


@pytest.mark.parametrize("name, expected", [
    # genvol.numberOfEvents (km3io: 100000) and DAQ.livetime 394 s
    ("offline/numucc.root", {"n_events_gen": 100000, "n_files_gen": 1, "livetime_sec": 394}),
    # gSeaGen: numberOfEvents=1000.0, no livetime, no DAQ
    (GSEAGEN_AA, {"n_events_gen": 1000, "n_files_gen": 1}),
    # CORSIKA through gSeaGen: numberOfEvents=10.0
    ("gseagen/DAT000001.gSeaGen.1.aa.root", {"n_events_gen": 10, "n_files_gen": 1}),
    # KM3Sim: numberOfEvents=50000, DAQ livetime 74.4 s
    ("offline/mcv6.0.gsg_muon_highE-CC_50-500GeV.km3sim.jterbr00008357.jorcarec.aanet.905.root",
     {"n_events_gen": 50000, "n_files_gen": 1, "livetime_sec": 74}),
    # CORSIKA/propa: genvol and livetime all 0, DAQ livetime 3.3 s
    ("offline/mcv5.0.DAT004340.propa.sirene.jte.jchain.aanet.4340.root", {"livetime_sec": 3}),
])
def test_generation_values(name, expected, testdata):
    assert read_header(testdata(name)).generation() == expected


def test_readers_fill_event_info_from_the_header(testdata):
    fill = np.iinfo(np.uint64).max
    with EvtPump(filename=testdata(GSEAGEN_EVT)) as pump:
        info = pump[3]["EventInfo"]
    assert (info.n_events_gen[0], info.n_files_gen[0], info.livetime_sec[0]) == (1000, 1, fill)
    with EvtPump(filename=testdata(MUPAGE_EVT)) as pump:
        info = pump[0]["EventInfo"]
    # livetime 0.0738 s in whole seconds; MUPAGE's header has no genvol
    assert (info.n_events_gen[0], info.livetime_sec[0]) == (fill, 0)
    with OfflinePump(filename=testdata("offline/numucc.root"), step_size=4) as pump:
        infos = [b["EventInfo"] for b in pump]
    assert all((i.n_events_gen[0], i.n_files_gen[0], i.livetime_sec[0]) == (100000, 1, 394)
               for i in infos)


@pytest.mark.parametrize("name", list(KM3IO_HEADERS))
def test_table_round_trip(name, testdata):
    header = read_header(testdata(name))
    table = header.to_table()
    assert table.h5loc == "/raw_header" and table.h5singleton and table.name == "RawHeader"
    assert table.dtype.names == ("parameter", "field_names", "field_values", "dtype")
    assert all(table.dtype[c].kind == "S" for c in table.dtype.names)
    assert len(table) == len(header)
    back = Header.from_table(table)
    assert _typed(back.as_dict()) == _typed(header.as_dict()) and back == header
    assert header.to_table() is table  # computed once


def test_table_layout_is_km3pipes():
    h = Header.from_text({"can": "0 1027 888.4", "depth": "2440", "seed": "gSeaGen 12"})
    rows = {r["parameter"]: (r["field_names"], r["field_values"], r["dtype"])
            for r in h.to_table()}
    assert rows == {b"can": (b"zmin zmax r", b"0 1027 888.4", b"f4 f4 f4"),
                    b"depth": (b"depth_0", b"2440", b"f4"),
                    b"seed": (b"program level iseed", b"gSeaGen 12 None", b"a7 f4 a4")}
    assert Header.from_table(h.to_table()).seed.iseed is None
    assert np.array_equal(header2table(h.as_dict()), h.to_table())


def test_empty_header():
    empty = Header()
    table = empty.to_table()
    assert len(table) == 0 and table.dtype.names == (
        "parameter", "field_names", "field_values", "dtype")
    assert len(Header.from_table(table)) == 0 and not empty
    assert Header.from_text({"end_event": ""}) == empty  # lines without values are left out


def test_bad_tables_are_format_errors():
    h = Header.from_text({"can": "0 1027 888.4", "DAQ": "394"})
    arr = np.asarray(h.to_table()).copy()
    arr["field_values"][1] = b"1 2"
    with pytest.raises(FormatError, match=r"row 1: /raw_header parameter 'DAQ': expected"):
        Header.from_table(arr)
    with pytest.raises(FormatError, match="lacks dtype"):
        Header.from_table(np.zeros(1, [("parameter", "S3"), ("field_names", "S3"),
                                       ("field_values", "S3")]))


def test_mapping_attributes_and_pickle(testdata):
    h = read_header(testdata("offline/numucc.root"))
    assert "can" in h and list(h)[:3] == ["DAQ", "PDF", "can"] and "can" in dir(h)
    assert h.fields("DAQ") == {"livetime": 394} and h.fields("detector") == {"detector": "NOT"}
    with pytest.raises(KeyError, match="no header tag 'nope'; present: DAQ, PDF"):
        h["nope"]
    with pytest.raises(AttributeError, match="no tag or attribute 'nope'"):
        h.nope
    again = pickle.loads(pickle.dumps(h))
    assert again == h and again.can.r == 888.4
    # KM3Pipe's name is the same type
    assert isinstance(HDF5Header.from_table(h.to_table()), Header)


@pytest.mark.parametrize("source, pump, key", [
    (GSEAGEN_EVT, EvtPump, "filename"),
    ("offline/numucc.root", OfflinePump, "filename"),
])
def test_one_blob_key_through_hdf5(source, pump, key, testdata, tmp_path):
    """Every reader gives the header as blob['Header']; the sink writes it once to
    /raw_header and the HDF5 pump gives the equal Header back under the same key."""
    out = tmp_path / "out.h5"
    seen = []
    pipe = Pipeline()
    pipe.attach(pump, **{key: testdata(source)})
    pipe.attach(lambda blob: seen.append(blob) or blob)
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain(3)
    header = seen[0][HEADER_KEY]
    assert isinstance(header, Header) and all(b[HEADER_KEY] is header for b in seen)
    assert not {"RawHeader", "raw_header"} & set(seen[0])
    with HDF5Pump(filename=str(out)) as h5:
        blob = h5[2]
        assert blob[HEADER_KEY] == header and h5.header == header
        assert not {"RawHeader", "raw_header"} & set(blob)
        assert len(h5.h5singleton("/raw_header")) == len(header)
    # and once more through HDF5 → HDF5: unchanged
    again = tmp_path / "again.h5"
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filename=str(out))
    pipe.attach(HDF5Sink, filename=str(again))
    pipe.drain()
    assert HDF5Header.from_hdf5(again) == header
