"""Contract-driven generator of realistic, messy sample data.

Used by ``dq-platform demo``, by the tests and by the benchmarks. Everything is derived from the
contract (column type, format, pii category, allowed values, bounds, lengths, pattern, unique,
required, expression rules), so a new YAML contract gets demo data without code.

Three kinds of rows come out:

* clean rows, which a correct pipeline must accept;
* cosmetically dirty clean rows (~20%: stray whitespace, wrong case, phones and dates in other
  accepted formats, null tokens in optional columns), which cleaning must fix, not reject;
* faulty rows (``bad_fraction``), each with exactly one injected fault that violates exactly one
  contract rule, recorded in ``SampleData.faults`` so tests know how many rows must be rejected.

Conventions a validator must share for the counts to be exact: cosmetic dates use
DEFAULT_DATE_FORMATS / DEFAULT_TIMESTAMP_FORMATS unless the column lists date_formats
(03/04/2021 is US month/day); phones in any common North-American spelling normalize to
XXX-XXX-XXXX; values in source.null_values (after trimming) are missing; a duplicate is every
occurrence after the first; expression rules are judged only on rows where all their operands
are present and parse (a missing or malformed operand is that column's fault, not the rule's).

Generation is vectorized per column (numpy + pyarrow compute, no per-row Python loops) and
chunked (CHUNK_ROWS) to bound memory, so a million rows take seconds. All vocabularies are
built in: no network, no extra dependency.
"""

from __future__ import annotations

import fnmatch
import functools
import io
import math
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, ColumnType, Contract, Format, MissingPolicy, PiiCategory

try:  # Python 3.11+: the regex parser lives in re._parser
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - older interpreters
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = [
    "SampleData",
    "generate",
    "write_files",
    "file_samples",
    "file_seed",
    "DEFAULT_DATE_FORMATS",
    "DEFAULT_TIMESTAMP_FORMATS",
    "FAULT_KINDS",
]

# Fixed "today" of the generated world, so output does not depend on the machine clock;
# it is in the past, so clean dates always satisfy not_in_future.
END_DATE = np.datetime64("2025-12-31", "D")
# Injected future dates start here: far enough ahead to stay in the future for years.
FUTURE_START = np.datetime64("2035-01-01", "D")

# Input formats a cleaner must accept when a column does not list its own date_formats.
# Cosmetically dirty rows use the non-first ones; 03/04/2021 is US month/day.
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%Y%m%d")
DEFAULT_TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")

# Rows are generated in chunks of this size: bounds temporary memory (and page faults, which
# are expensive on small VMs) whatever the row count. Ids stay global across chunks.
CHUNK_ROWS = 262_144
COSMETIC_SHARE = 0.20  # of clean rows
MISSING_SHARE = 0.06  # natural nulls in optional columns
NULL_TOKEN_SHARE = 0.2  # of natural nulls written as a null token ("NULL", "N/A", ...)

FAULT_KINDS = (
    "null_required",
    "duplicate_id",
    "non_numeric",
    "negative_number",
    "out_of_range",
    "bad_allowed_value",
    "bad_pattern",
    "bad_email",
    "bad_phone",
    "non_alphabetic",
    "non_alphanumeric",
    "bad_currency_code",
    "bad_uuid",
    "too_short",
    "too_long",
    "impossible_date",
    "malformed_date",
    "future_date",
    "bad_boolean",
    "birth_after_creation",
    "rule_violation",
)


# --------------------------------------------------------------------------------------
# Built-in vocabularies (ASCII only, so every "alphabetic" validator agrees they are letters)
# --------------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


FIRST_NAMES = _split("""
James, Mary, John, Patricia, Robert, Jennifer, Michael, Linda, William, Elizabeth, David, Barbara,
Richard, Susan, Joseph, Jessica, Thomas, Sarah, Charles, Karen, Christopher, Lisa, Daniel, Nancy,
Matthew, Betty, Anthony, Margaret, Mark, Sandra, Donald, Ashley, Steven, Kimberly, Paul, Emily,
Andrew, Donna, Joshua, Michelle, Kenneth, Carol, Kevin, Amanda, Brian, Dorothy, George, Melissa,
Timothy, Deborah, Ronald, Stephanie, Edward, Rebecca, Jason, Sharon, Jeffrey, Laura, Ryan, Cynthia,
Jacob, Kathleen, Gary, Amy, Nicholas, Angela, Eric, Shirley, Jonathan, Anna, Stephen, Brenda, Larry,
Pamela, Justin, Emma, Scott, Nicole, Brandon, Helen, Benjamin, Samantha, Samuel, Katherine, Gregory,
Christine, Alexander, Debra, Frank, Rachel, Patrick, Carolyn, Raymond, Janet, Jack, Catherine,
Dennis, Maria, Jerry, Heather, Tyler, Diane, Aaron, Ruth, Jose, Julie, Adam, Olivia, Nathan, Joyce,
Henry, Virginia, Douglas, Victoria, Zachary, Kelly, Peter, Lauren, Kyle, Christina, Ethan, Joan,
Walter, Evelyn, Noah, Judith, Jeremy, Megan, Christian, Andrea, Keith, Cheryl, Roger, Hannah, Terry,
Jacqueline, Gerald, Martha, Harold, Gloria, Sean, Teresa, Austin, Ann, Carl, Sara, Arthur, Madison,
Lawrence, Frances, Dylan, Kathryn, Jesse, Janice, Jordan, Jean, Bryan, Abigail, Billy, Alice, Joe,
Judy, Bruce, Sophia, Gabriel, Grace, Logan, Denise, Albert, Amber, Willie, Doris, Alan, Marilyn,
Juan, Danielle, Wayne, Beverly, Elijah, Isabella, Randy, Theresa, Roy, Diana, Vincent, Natalie,
Ralph, Brittany, Eugene, Charlotte, Russell, Marie, Bobby, Kayla, Mason, Alexis, Philip, Lori, Louis,
Mia, Luis, Carlos, Miguel, Ana, Sofia, Camila, Valentina, Diego, Javier, Alejandro, Lucia, Mateo,
Santiago, Isabel, Gabriela, Ricardo, Fernando, Wei, Li, Ming, Mei, Hiroshi, Yuki, Aiko, Kenji,
Priya, Arjun, Raj, Anil, Deepak, Sunita, Aisha, Fatima, Omar, Ahmed, Mohammed, Ali, Hassan, Layla,
Chloe, Zoe, Liam, Aiden, Mila, Ava, Harper, Ella, Aria, Nora, Riley, Leah, Jade, Maya, Ivy, Owen,
Caleb, Luke, Isaac, Levi, Eli, Ian, Leo, Max, Finn, Jo, Ty, Mary-Jane, Jean-Luc, Anne-Marie,
D'Andre, Jo Ann, Kwame, Chinedu, Ngozi, Olga, Dmitri, Ivan, Sven, Ingrid, Lars, Francois, Pierre
""")

LAST_NAMES = _split("""
Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, Martinez, Hernandez,
Lopez, Gonzalez, Wilson, Anderson, Thomas, Taylor, Moore, Jackson, Martin, Lee, Perez, Thompson,
White, Harris, Sanchez, Clark, Ramirez, Lewis, Robinson, Walker, Young, Allen, King, Wright, Scott,
Torres, Nguyen, Hill, Flores, Green, Adams, Nelson, Baker, Hall, Rivera, Campbell, Mitchell, Carter,
Roberts, Gomez, Phillips, Evans, Turner, Diaz, Parker, Cruz, Edwards, Collins, Reyes, Stewart,
Morris, Morales, Murphy, Cook, Rogers, Gutierrez, Ortiz, Morgan, Cooper, Peterson, Bailey, Reed,
Kelly, Howard, Ramos, Kim, Cox, Ward, Richardson, Watson, Brooks, Chavez, Wood, James, Bennett,
Gray, Mendoza, Ruiz, Hughes, Price, Alvarez, Castillo, Sanders, Patel, Myers, Long, Ross, Foster,
Jimenez, Powell, Jenkins, Perry, Russell, Sullivan, Bell, Coleman, Butler, Henderson, Barnes,
Gonzales, Fisher, Vasquez, Simmons, Romero, Jordan, Patterson, Alexander, Hamilton, Graham,
Reynolds, Griffin, Wallace, Moreno, West, Cole, Hayes, Bryant, Herrera, Gibson, Ellis, Tran, Medina,
Aguilar, Stevens, Murray, Ford, Castro, Marshall, Owens, Harrison, Fernandez, McDonald, Woods,
Washington, Kennedy, Wells, Vargas, Henry, Chen, Freeman, Webb, Tucker, Guzman, Burns, Crawford,
Olson, Simpson, Porter, Hunter, Gordon, Mendez, Silva, Shaw, Snyder, Mason, Dixon, Munoz, Hunt,
Hicks, Holmes, Palmer, Wagner, Black, Robertson, Boyd, Rose, Stone, Salazar, Fox, Warren, Mills,
Meyer, Rice, Schmidt, Garza, Daniels, Ferguson, Nichols, Stephens, Soto, Weaver, Ryan, Gardner,
Payne, Grant, Dunn, Spencer, Hawkins, Arnold, Pierce, Vazquez, Hansen, Peters, Santos, Hart,
Bradley, Knight, Elliott, Cunningham, Duncan, Armstrong, Hudson, Carroll, Lane, Riley, Andrews,
Alvarado, Ray, Delgado, Berry, Perkins, Hoffman, Johnston, Matthews, Pena, Richards, Contreras,
Willis, Carpenter, Lawrence, Sandoval, Wang, Zhang, Liu, Yang, Huang, Zhao, Wu, Zhou, Xu, Sun, Ma,
Zhu, Hu, Guo, Lin, Luo, Tanaka, Suzuki, Sato, Watanabe, Yamamoto, Nakamura, Kobayashi, Singh, Kumar,
Shah, Sharma, Gupta, Khan, Ali, Ahmed, Hussain, Park, Choi, Jung, Kang, Cho, Yoon, Jang, Lim,
O'Brien, O'Connor, O'Neill, D'Angelo, McCarthy, MacDonald, Smith-Jones, De La Cruz, Van Dyke,
St. John, Le, Ng, Li, Vu, Okafor, Mensah, Ivanov, Petrov, Novak, Kowalski, Larsen, Johansson, Muller
""")

STREET_NAMES = _split("""
Main, Oak, Pine, Maple, Cedar, Elm, Washington, Lake, Hill, Park, Walnut, Sunset, Lincoln, Jackson,
Church, River, Highland, Spring, Ridge, Meadow, Forest, Willow, Jefferson, Franklin, Madison,
Adams, Center, Mill, Chestnut, Hickory, Birch, Cherry, Dogwood, Magnolia, Sycamore, Aspen, Spruce,
Laurel, Juniper, Poplar, Lakeview, Valley, Prospect, Broad, Market, Union, Water, Bridge, School,
North, South, East, West, Front, High, King, Queen, Harbor, Bay, Ocean, Beach, Canyon, Mesa,
Prairie, Orchard, Vine, Grove, Garden, Rose, Sunrise, Cambridge, Oxford, Kensington, Fairview,
Greenwood, Riverside, Woodland, Country Club, Mountain View, Pleasant, College, University,
Colonial, Liberty, Heritage, Commerce, 1st, 2nd, 3rd, 4th, 5th, 6th, 7th, 8th, 9th, 10th
""")
STREET_SUFFIXES = ["St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl", "Ter", "Cir"]
STREET_SUFFIX_WEIGHTS = [30, 20, 12, 10, 7, 5, 5, 5, 3, 2, 1]

# (city, state, a real ZIP code of that city)
CITIES = [
    ("New York", "NY", 10001),
    ("Los Angeles", "CA", 90012),
    ("Chicago", "IL", 60601),
    ("Houston", "TX", 77002),
    ("Phoenix", "AZ", 85004),
    ("Philadelphia", "PA", 19103),
    ("San Antonio", "TX", 78205),
    ("San Diego", "CA", 92101),
    ("Dallas", "TX", 75201),
    ("San Jose", "CA", 95113),
    ("Austin", "TX", 78701),
    ("Jacksonville", "FL", 32202),
    ("Fort Worth", "TX", 76102),
    ("Columbus", "OH", 43215),
    ("Charlotte", "NC", 28202),
    ("Indianapolis", "IN", 46204),
    ("San Francisco", "CA", 94103),
    ("Seattle", "WA", 98101),
    ("Denver", "CO", 80202),
    ("Washington", "DC", 20001),
    ("Boston", "MA", 2108),
    ("El Paso", "TX", 79901),
    ("Nashville", "TN", 37203),
    ("Detroit", "MI", 48226),
    ("Oklahoma City", "OK", 73102),
    ("Portland", "OR", 97204),
    ("Las Vegas", "NV", 89101),
    ("Memphis", "TN", 38103),
    ("Louisville", "KY", 40202),
    ("Baltimore", "MD", 21202),
    ("Milwaukee", "WI", 53202),
    ("Albuquerque", "NM", 87102),
    ("Tucson", "AZ", 85701),
    ("Fresno", "CA", 93721),
    ("Sacramento", "CA", 95814),
    ("Kansas City", "MO", 64105),
    ("Mesa", "AZ", 85201),
    ("Atlanta", "GA", 30303),
    ("Omaha", "NE", 68102),
    ("Colorado Springs", "CO", 80903),
    ("Raleigh", "NC", 27601),
    ("Miami", "FL", 33130),
    ("Long Beach", "CA", 90802),
    ("Virginia Beach", "VA", 23451),
    ("Oakland", "CA", 94612),
    ("Minneapolis", "MN", 55401),
    ("Tulsa", "OK", 74103),
    ("Tampa", "FL", 33602),
    ("Arlington", "TX", 76010),
    ("New Orleans", "LA", 70112),
    ("Wichita", "KS", 67202),
    ("Cleveland", "OH", 44113),
    ("Bakersfield", "CA", 93301),
    ("Aurora", "CO", 80010),
    ("Anaheim", "CA", 92805),
    ("Honolulu", "HI", 96813),
    ("Santa Ana", "CA", 92701),
    ("Riverside", "CA", 92501),
    ("Corpus Christi", "TX", 78401),
    ("Lexington", "KY", 40507),
    ("Stockton", "CA", 95202),
    ("Henderson", "NV", 89002),
    ("Saint Paul", "MN", 55102),
    ("St. Louis", "MO", 63101),
    ("Cincinnati", "OH", 45202),
    ("Pittsburgh", "PA", 15222),
    ("Greensboro", "NC", 27401),
    ("Anchorage", "AK", 99501),
    ("Plano", "TX", 75074),
    ("Lincoln", "NE", 68508),
    ("Orlando", "FL", 32801),
    ("Irvine", "CA", 92614),
    ("Newark", "NJ", 7102),
    ("Toledo", "OH", 43604),
    ("Durham", "NC", 27701),
    ("Chula Vista", "CA", 91910),
    ("Fort Wayne", "IN", 46802),
    ("Jersey City", "NJ", 7302),
    ("St. Petersburg", "FL", 33701),
    ("Laredo", "TX", 78040),
    ("Madison", "WI", 53703),
    ("Chandler", "AZ", 85225),
    ("Buffalo", "NY", 14202),
    ("Lubbock", "TX", 79401),
    ("Scottsdale", "AZ", 85251),
    ("Reno", "NV", 89501),
    ("Glendale", "AZ", 85301),
    ("Norfolk", "VA", 23510),
    ("Winston-Salem", "NC", 27101),
    ("Boise", "ID", 83702),
    ("Richmond", "VA", 23219),
    ("Spokane", "WA", 99201),
    ("Des Moines", "IA", 50309),
    ("Salt Lake City", "UT", 84101),
    ("Springfield", "IL", 62701),
    ("Hartford", "CT", 6103),
    ("Providence", "RI", 2903),
    ("Burlington", "VT", 5401),
    ("Portland", "ME", 4101),
    ("Manchester", "NH", 3101),
    ("Wilmington", "DE", 19801),
    ("Charleston", "WV", 25301),
    ("Charleston", "SC", 29401),
    ("Birmingham", "AL", 35203),
    ("Jackson", "MS", 39201),
    ("Little Rock", "AR", 72201),
    ("Fargo", "ND", 58102),
    ("Sioux Falls", "SD", 57104),
    ("Billings", "MT", 59101),
    ("Cheyenne", "WY", 82001),
    ("Ann Arbor", "MI", 48104),
    ("Grand Rapids", "MI", 49503),
    ("Savannah", "GA", 31401),
    ("Tallahassee", "FL", 32301),
    ("Knoxville", "TN", 37902),
    ("Chattanooga", "TN", 37402),
    ("Akron", "OH", 44308),
    ("Rochester", "NY", 14604),
    ("Syracuse", "NY", 13202),
    ("Albany", "NY", 12207),
    ("Worcester", "MA", 1608),
    ("Cambridge", "MA", 2139),
    ("New Haven", "CT", 6510),
    ("Trenton", "NJ", 8608),
    ("Allentown", "PA", 18101),
    ("Harrisburg", "PA", 17101),
    ("Dayton", "OH", 45402),
    ("Evansville", "IN", 47708),
    ("Peoria", "IL", 61602),
    ("Naperville", "IL", 60540),
    ("Overland Park", "KS", 66210),
    ("Topeka", "KS", 66603),
    ("Springfield", "MO", 65806),
    ("Baton Rouge", "LA", 70801),
    ("Shreveport", "LA", 71101),
    ("Mobile", "AL", 36602),
    ("Huntsville", "AL", 35801),
    ("Pensacola", "FL", 32502),
    ("Fort Lauderdale", "FL", 33301),
    ("Eugene", "OR", 97401),
    ("Salem", "OR", 97301),
    ("Tacoma", "WA", 98402),
    ("Olympia", "WA", 98501),
    ("Santa Fe", "NM", 87501),
    ("Provo", "UT", 84601),
    ("Pasadena", "CA", 91101),
    ("Berkeley", "CA", 94704),
    ("Santa Barbara", "CA", 93101),
    ("Modesto", "CA", 95354),
    ("Ventura", "CA", 93001),
]

# Common NANP area codes (all start with 2-9, none is N11).
AREA_CODES = [
    201,
    202,
    203,
    205,
    206,
    207,
    208,
    210,
    212,
    213,
    214,
    215,
    216,
    217,
    224,
    225,
    228,
    231,
    239,
    240,
    248,
    251,
    252,
    256,
    262,
    267,
    281,
    301,
    302,
    303,
    304,
    305,
    307,
    310,
    312,
    313,
    314,
    315,
    316,
    317,
    318,
    319,
    320,
    321,
    323,
    330,
    336,
    337,
    347,
    351,
    352,
    360,
    385,
    401,
    402,
    404,
    405,
    406,
    407,
    408,
    409,
    410,
    412,
    413,
    414,
    415,
    417,
    419,
    423,
    425,
    432,
    434,
    435,
    440,
    443,
    469,
    478,
    479,
    480,
    501,
    502,
    503,
    504,
    505,
    507,
    508,
    509,
    510,
    512,
    513,
    515,
    516,
    517,
    518,
    520,
    530,
    540,
    541,
    559,
    561,
    562,
    563,
    571,
    573,
    574,
    580,
    585,
    586,
    602,
    603,
    605,
    606,
    607,
    608,
    609,
    610,
    612,
    614,
    615,
    616,
    617,
    618,
    619,
    623,
    626,
    630,
    631,
    636,
    646,
    650,
    651,
    661,
    662,
    678,
    701,
    702,
    703,
    704,
    706,
    707,
    708,
    712,
    713,
    714,
    715,
    716,
    717,
    718,
    719,
    720,
    724,
    727,
    732,
    734,
    740,
    754,
    757,
    760,
    763,
    765,
    770,
    773,
    774,
    775,
    781,
    786,
    801,
    802,
    803,
    804,
    805,
    806,
    808,
    810,
    813,
    814,
    815,
    816,
    817,
    818,
    828,
    830,
    831,
    832,
    843,
    845,
    847,
    848,
    850,
    856,
    857,
    858,
    859,
    860,
    862,
    863,
    864,
    865,
    870,
    901,
    903,
    904,
    907,
    908,
    909,
    910,
    912,
    913,
    914,
    915,
    916,
    917,
    918,
    919,
    920,
    925,
    928,
    931,
    936,
    937,
    940,
    941,
    949,
    951,
    952,
    954,
    956,
    970,
    971,
    972,
    973,
    978,
    979,
    980,
    985,
]

EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "protonmail.com",
    "comcast.net",
    "att.net",
    "live.com",
    "msn.com",
    "me.com",
    "verizon.net",
    "mail.com",
    "gmx.com",
    "fastmail.com",
    "ymail.com",
    "zoho.com",
]
EMAIL_DOMAIN_WEIGHTS = [35, 12, 10, 8, 7, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1]

WORDS = _split("""
account, balance, payment, transfer, review, customer, service, request, update, order, invoice,
credit, debit, card, bank, branch, online, mobile, wire, deposit, savings, checking, loan, limit,
monthly, annual, statement, reward, premium, standard, basic, gold, silver, platinum, business,
personal, retail, merchant, store, market, travel, dining, grocery, fuel, utility, rent, salary,
bonus, refund, fee, interest, tax, insurance, health, education, gift, charity, subscription,
renewal, opening, closing, verified, manual, automatic, scheduled, express, priority, regional,
national, global, north, south, east, west, central, green, blue, silver, harbor, summit, valley
""")
COMPANY_SUFFIXES = ["Inc", "LLC", "Group", "Partners", "Holdings", "Co", "Corp", "Ltd"]
COUNTRY_CODES = ["US", "CA", "GB", "DE", "FR", "MX", "ES", "IT", "NL", "IE", "AU", "JP", "BR", "SE"]
CURRENCY_CODES = ["USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "MXN", "SEK", "CNY", "INR", "BRL"]
OTHER_STATUSES = [
    "closed",
    "deleted",
    "unknown",
    "archived",
    "blocked",
    "frozen",
    "terminated",
    "on_hold",
    "dormant",
    "pending_review",
    "cancelled",
    "error",
]
HOUR_WEIGHTS = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1,
    2,
    3.5,
    4.5,
    5,
    5.5,
    6,
    5.8,
    5.5,
    5.2,
    5.3,
    5.8,
    6,
    5.5,
    4.5,
    3.5,
    2.5,
    1.6,
]

_ALNUM = [ord(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"]
_PRINTABLE = list(range(33, 127))
_TIME_DIRECTIVES = set("HIMSpTXfz")
_DATE_DIRECTIVES = set("YmdyjbBaAeFDUWwGuV")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@dataclass
class SampleData:
    """Generated rows plus the ground truth of which rows carry which injected fault."""

    frame: pd.DataFrame  # every column as CSV text, dtype "string"; nulls are <NA>
    faults: pd.Series  # None for clean rows, else the fault kind
    fault_targets: pd.Series  # None, or the column (or "rule:<id>") the fault violates
    table: pa.Table = field(repr=False)  # same data as Arrow, for fast writing

    @property
    def bad_rows(self) -> int:
        """How many rows a correct validator must reject."""
        return int(self.faults.notna().sum())

    @property
    def clean_mask(self) -> pd.Series:
        return self.faults.isna()


def generate(
    contract: Contract,
    rows: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    id_offset: int = 0,
    reference_ids: int | None = None,
) -> SampleData:
    """Generate ``rows`` rows for ``contract``; deterministic for a given seed.

    ``id_offset`` shifts sequential ids (and unique pattern values) so several calls produce
    disjoint keys. Integer identifier columns that reference another dataset (pii category
    identifier, not unique, e.g. sales_transactions.customer_id) draw from 1..reference_ids
    (default: ``rows``) so they join to a customers table of that size.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0 <= bad_fraction <= 1:
        raise ValueError("bad_fraction must be between 0 and 1")
    rows = int(rows)
    reference_ids = max(1, int(reference_ids if reference_ids is not None else rows))
    tables, kinds, targets = [], [], []
    for chunk, start in enumerate(range(0, max(rows, 1), CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        b = _Builder(contract, n, int(seed), float(bad_fraction), int(id_offset) + start, reference_ids, chunk)
        table, k, t = b.build()
        tables.append(table)
        kinds.append(k)
        targets.append(t)
        del b
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    del tables
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get
    )
    return SampleData(
        frame=frame,
        faults=pd.Series(np.concatenate(kinds), name="fault", dtype=object),
        fault_targets=pd.Series(np.concatenate(targets), name="fault_target", dtype=object),
        table=table,
    )


def file_seed(seed: int, index: int) -> int:
    """The seed of file number ``index`` (0-based) of a write_files run: distinct per file."""
    return int(np.random.SeedSequence([abs(int(seed)), int(index)]).generate_state(1, np.uint64)[0] >> 2)


def file_samples(
    contract: Contract,
    files: int,
    rows_per_file: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    reference_ids: int | None = None,
) -> Iterator[tuple[PurePosixPath, SampleData]]:
    """Yield (path relative to the landing zone, data) per file, one file in memory at a time.

    What write_files writes; callers that need the ground truth of each file (tests,
    benchmarks) iterate this instead of re-reading the files.
    """
    if reference_ids is None:
        reference_ids = max(1, files * rows_per_file)
    paths = [_file_relpath(contract, k, files) for k in range(files)]
    if len(set(paths)) != len(paths):
        raise ValueError(f"source pattern '{contract.source.pattern}' cannot name {files} distinct files")
    for k, rel in enumerate(paths):
        yield (
            rel,
            generate(
                contract,
                rows_per_file,
                seed=file_seed(seed, k),
                bad_fraction=bad_fraction,
                id_offset=k * rows_per_file,
                reference_ids=reference_ids,
            ),
        )


def write_files(
    contract: Contract,
    directory: str | Path,
    files: int,
    rows_per_file: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    reference_ids: int | None = None,
) -> list[Path]:
    """Write ``files`` files matching contract.source.pattern under ``directory``.

    Ids are distinct across files (id_offset), seeds differ per file, output is deterministic.
    CSV goes through the Arrow writer (fast, UTF-8, header); jsonl/parquet when the contract's
    source.format says so.
    """
    directory = Path(directory)
    out = []
    for rel, data in file_samples(contract, files, rows_per_file, seed, bad_fraction, reference_ids):
        path = directory.joinpath(*rel.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(contract, data, path)
        out.append(path)
        del data
    return out


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def _fill_glob(segment: str, stem: str, index: int) -> str:
    """Turn a glob segment into a concrete name: '*' -> stem, '?' -> digits, '[ab]' -> 'a'."""
    segment = re.sub(r"\[!?(.)[^\]]*\]", lambda m: m.group(1), segment)
    q = segment.count("?")
    if q:
        digits = str(index).zfill(q)[-q:]
        for d in digits:
            segment = segment.replace("?", d, 1)
    first, *rest = segment.split("*")
    if rest:
        segment = first + stem + "".join(rest)
    return segment


def _file_relpath(contract: Contract, k: int, files: int) -> PurePosixPath:
    pattern = contract.source.pattern.replace("\\", "/").lstrip("/")
    parts = PurePosixPath(pattern).parts
    dirs = ["data" if p == "**" else _fill_glob(p, "data", 0) for p in parts[:-1]]
    base = parts[-1]
    stem = f"{contract.name}_{k + 1:04d}" if base.startswith("*") else f"{k + 1:04d}"
    if "*" not in base and "?" not in base and files > 1:
        raise ValueError(f"source pattern '{contract.source.pattern}' names a single file")
    rel = PurePosixPath(*dirs, _fill_glob(base, stem, k + 1))
    if not fnmatch.fnmatch(str(rel), pattern):
        raise ValueError(f"cannot derive a file name matching '{contract.source.pattern}' (got {rel})")
    return rel


def _write(contract: Contract, data: SampleData, path: Path) -> None:
    fmt = contract.source.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data.table, path)
    elif fmt == "jsonl":
        data.frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        import pyarrow.csv as pcsv

        opts = pcsv.WriteOptions(include_header=True, delimiter=contract.source.delimiter)
        enc = contract.source.encoding.lower().replace("_", "-")
        if enc in ("utf-8", "utf8"):
            pcsv.write_csv(data.table, str(path), write_options=opts)
        else:
            buf = io.BytesIO()
            pcsv.write_csv(data.table, buf, write_options=opts)
            path.write_bytes(buf.getvalue().decode("utf-8").encode(contract.source.encoding, errors="replace"))


# --------------------------------------------------------------------------------------
# Small vectorized helpers
# --------------------------------------------------------------------------------------


def _s(values) -> pa.Array:
    """A pyarrow string array from a list / numpy array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, type=pa.string())


def _take(vocab, idx: np.ndarray) -> pa.Array:
    vocab = vocab if isinstance(vocab, pa.Array) else pa.array(vocab, type=pa.string())
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _int_text(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def _pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_int_text(values), width, padding="0")


def _money_text(cents: np.ndarray) -> pa.Array:
    """Integer cents -> '1234.50' without float formatting."""
    cents = np.asarray(cents, dtype=np.int64)
    a = np.abs(cents)
    text = _join(_int_text(a // 100), ".", _pad(a % 100, 2))
    neg = cents < 0
    if neg.any():
        text = pc.if_else(pa.array(neg), _join("-", text), text)
    return text


def _weighted(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """Weighted choice of indexes via a 2**16-entry lookup table: a gather instead of a
    binary search per row (resolution 1/65536 is plenty for sample data)."""
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    table = np.minimum(np.searchsorted(cdf, (np.arange(65536) + 0.5) / 65536, side="right"), len(cdf) - 1)
    return table[rng.integers(0, 65536, n, dtype=np.uint16)].astype(np.int64)


def _zipf_weights(k: int, a: float = 1.6) -> np.ndarray:
    """First listed values most common: statuses, currencies, ..."""
    return 1.0 / np.arange(1, k + 1) ** a


def _pick(rng: np.random.Generator, variants: list[pa.Array]) -> pa.Array:
    """Per row, one of several equally long candidate arrays."""
    m = len(variants[0])
    if len(variants) == 1 or m == 0:
        return variants[0]
    choice = rng.integers(0, len(variants), m)
    return pa.concat_arrays([_s(v) for v in variants]).take(pa.array(choice * m + np.arange(m)))


def _codes_to_strings(mat: np.ndarray) -> pa.Array:
    """(n, L) code-point matrix, 0 = no character, -> string array (zeros dropped anywhere)."""
    n = mat.shape[0]
    if n == 0:
        return pa.array([], type=pa.string())
    nz = mat != 0
    if mat.size and mat.max() >= 128:
        order = np.argsort(~nz, axis=1, kind="stable")  # move characters before the holes
        packed = np.take_along_axis(mat, order, axis=1).astype(np.uint32)
        return pa.array(np.ascontiguousarray(packed).view(f"<U{mat.shape[1]}").ravel(), type=pa.string())
    flat = np.ascontiguousarray(mat, dtype=np.uint8).ravel()
    data = flat[nz.ravel()]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(nz, axis=1), out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _table(strings: list[str]) -> np.ndarray:
    """ASCII strings -> (k, maxlen) byte table, 0-padded; rows are gathered per generated row
    and the zeros dropped by _codes_to_strings: string building as numpy gathers."""
    width = max((len(w) for w in strings), default=0)
    out = np.zeros((len(strings), max(width, 1)), dtype=np.uint8)
    for i, w in enumerate(strings):
        b = w.encode("ascii")
        out[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    return out


def _digits(values: np.ndarray, width: int, pad: bool = False) -> np.ndarray:
    """Non-negative ints -> (n, width) ASCII digits; leading zeros dropped unless ``pad``."""
    values = np.asarray(values, dtype=np.int64)
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.copy()
    for j in range(width - 1, -1, -1):
        rest, d = np.divmod(rest, 10)
        out[:, j] = 48 + d
    if not pad and width > 1:
        lead = np.ones(len(values), dtype=bool)
        for j in range(width - 1):
            lead &= out[:, j] == 48
            out[lead, j] = 0
    return out


def _apply_edits(base: pa.Array, edits: list[tuple[np.ndarray, pa.Array | None]]) -> pa.Array:
    """Replace rows of ``base``; later edits win. One take for all edits of a column."""
    edits = [(r, v) for r, v in edits if len(r)]
    if not edits:
        return base
    n = len(base)
    idx = np.arange(n, dtype=np.int64)
    pieces, off = [base], n
    for rows, vals in edits:
        vals = pa.nulls(len(rows), pa.string()) if vals is None else _s(vals)
        idx[rows] = off + np.arange(len(rows))
        pieces.append(vals)
        off += len(rows)
    return pa.concat_arrays(pieces).take(pa.array(idx))


def _crc(*parts) -> int:
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


# -- temporal rendering ----------------------------------------------------------------

_UNIT_SECONDS = {"D": 86400, "s": 1}


def _to_ts(values: np.ndarray, unit: str) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64).astype(f"datetime64[{unit}]").astype("datetime64[s]"))


def _strftime(values: np.ndarray, unit: str, fmt: str) -> pa.Array:
    if len(values) == 0:
        return pa.array([], type=pa.string())
    if unit == "D" and fmt == "%Y-%m-%d":
        return pa.array(np.asarray(values, dtype=np.int64).astype("datetime64[D]")).cast(pa.string())
    return pc.strftime(_to_ts(values, unit), format=fmt)


def _render_temporal(values: np.ndarray, unit: str, fmt: str) -> pa.Array:
    """Whole-column rendering via small vocabularies (distinct days, seconds of the day):
    strftime on a million timestamps is slow, a take is not."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) < 5000:
        return _strftime(values, unit, fmt)
    if unit == "D":
        lo, hi = int(values.min()), int(values.max())
        vocab = _strftime(np.arange(lo, hi + 1), "D", fmt)
        return _take(vocab, values - lo)
    m = re.search(r"%[HIMSpTX]", fmt)
    date_part, time_part = (fmt[: m.start()], fmt[m.start() :]) if m else (fmt, "")
    if set(re.findall(r"%(.)", date_part)) & _TIME_DIRECTIVES or set(re.findall(r"%(.)", time_part)) & _DATE_DIRECTIVES:
        return _strftime(values, unit, fmt)
    days, secs = np.divmod(values, 86400)
    out = _render_temporal(days, "D", date_part) if date_part else None
    if time_part:
        t = _take(_time_vocab(time_part), secs)
        out = t if out is None else _join(out, t)
    return out


@functools.lru_cache(maxsize=8)
def _time_vocab(fmt: str) -> pa.Array:
    """The 86400 seconds of a day rendered with ``fmt`` (cached: built once per format)."""
    return pc.strftime(pa.array(np.arange(86400).astype("datetime64[s]")), format=fmt)


def _fmt_parts(fmt: str, parts: dict[str, pa.Array | str]) -> pa.Array | None:
    """Render a strftime format from per-row component strings (for impossible dates, which
    no date type can hold). None when the format uses a directive we have no part for."""
    pieces = []
    for tok in re.split(r"(%.)", fmt):
        if not tok:
            continue
        if tok.startswith("%") and len(tok) == 2:
            if tok == "%%":
                pieces.append("%")
            elif tok[1] in parts:
                pieces.append(parts[tok[1]])
            else:
                return None
        else:
            pieces.append(tok)
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        return None
    return _join(*pieces)


def _parse_bound(v, unit: str) -> int | None:
    if v is None:
        return None
    ts = pd.Timestamp(str(v))
    return int(np.datetime64(ts.to_datetime64(), unit).astype(np.int64))


# --------------------------------------------------------------------------------------
# Regex-driven string generation (patterns such as ^TX[0-9]{8}$)
# --------------------------------------------------------------------------------------


class _Unsupported(Exception):
    pass


def _class_chars(items) -> list[int]:
    chars: set[int] = set()
    negate = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.add(av)
        elif name == "RANGE":
            chars.update(range(av[0], av[1] + 1))
        elif name == "CATEGORY":
            chars.update(_category_chars(av))
        else:
            raise _Unsupported(name)
    if negate:
        chars = set(_ALNUM) - chars
    if not chars:
        raise _Unsupported("empty class")
    return sorted(chars)


def _category_chars(av) -> list[int]:
    name = str(av)
    if name.endswith("NOT_DIGIT") or name.endswith("NOT_WORD") or name.endswith("NOT_SPACE"):
        base = {"DIGIT": "-_.", "WORD": "-.", "SPACE": "ABCdef0123"}[name.rsplit("_", 1)[-1]]
        return [ord(c) for c in base]
    if name.endswith("DIGIT"):
        return [ord(c) for c in "0123456789"]
    if name.endswith("WORD"):
        return _ALNUM
    if name.endswith("SPACE"):
        return [32]
    raise _Unsupported(name)


def _emit(items, n: int, rng: np.random.Generator, slots: list | None = None) -> np.ndarray:
    """Code-point matrix (n, L) for a parsed regex; ``slots`` collects top-level fixed-width
    digit runs (start column, width) that unique columns fill with scrambled sequence numbers."""
    cols: list[np.ndarray] = []
    width = 0

    def choose(chars):
        arr = np.asarray(chars, dtype=np.uint32)
        return arr[rng.integers(0, len(arr), n)][:, None]

    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            m = np.full((n, 1), av, dtype=np.uint32)
        elif name == "NOT_LITERAL":
            m = choose([c for c in _ALNUM if c != av])
        elif name == "ANY":
            m = choose(_ALNUM)
        elif name == "IN":
            m = choose(_class_chars(av))
        elif name == "CATEGORY":
            m = choose(_category_chars(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            hi = lo + 3 if hi == _sre_c.MAXREPEAT else min(hi, lo + 8)
            count = rng.integers(lo, hi + 1, n) if hi > lo else None
            parts = []
            for j in range(hi):
                part = _emit(sub, n, rng)
                if count is not None:
                    part[count <= j] = 0
                parts.append(part)
            m = np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.uint32)
            if slots is not None and lo == hi and len(sub) == 1 and str(sub[0][0]) in ("IN", "CATEGORY"):
                try:
                    chars = _class_chars(sub[0][1]) if str(sub[0][0]) == "IN" else _category_chars(sub[0][1])
                except _Unsupported:
                    chars = []
                if chars == [ord(c) for c in "0123456789"]:
                    slots.append((width, lo))
        elif name == "SUBPATTERN":
            m = _emit(av[-1], n, rng)
        elif name == "BRANCH":
            branches = [_emit(b, n, rng) for b in av[1]]
            w = max(b.shape[1] for b in branches)
            stack = np.stack([np.pad(b, ((0, 0), (0, w - b.shape[1]))) for b in branches])
            m = stack[rng.integers(0, len(branches), n), np.arange(n)]
        elif name == "AT":
            continue
        else:
            raise _Unsupported(name)
        cols.append(m)
        width += m.shape[1]
    return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), np.uint32)


def _scramble(x: np.ndarray, digits: int, salt: int) -> np.ndarray:
    """Bijection on [0, 10**d), d = min(digits, 12): sequential ids -> random-looking, still
    unique. Affine maps (invertible: multiplier coprime to 10) around a digit reversal."""
    d = min(digits, 12)
    mod = 10**d
    v = np.asarray(x, dtype=np.int64) % mod
    for a, b in ((738_917, salt), (591_373, salt // 7 + 12_345)):
        v = (v * a + b % mod) % mod
        r = np.zeros_like(v)
        for _ in range(d):  # reverse the d digits (a permutation of d-digit strings)
            v, digit = np.divmod(v, 10)
            r = r * 10 + digit
        v = r
    return v


# --------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------


@dataclass
class _Val:
    """One column of clean rows: typed values (for rules), canonical text, natural nulls."""

    typed: np.ndarray | None
    text: pa.Array
    null: np.ndarray
    unit: str | None = None  # "D" or "s" for temporal columns (typed holds integer counts)
    vocab: tuple[str, np.ndarray] | None = None  # (vocabulary, index) for name columns


@dataclass(frozen=True)
class _Comparison:
    rule_id: str
    greater: str
    lesser: str
    strict: bool


@dataclass(frozen=True)
class _Pair:
    kind: str
    target: str  # column name or "rule:<id>"
    column: str | None  # column edited (None for rule faults)
    comparison: _Comparison | None = None


_NUMERIC = (ColumnType.integer, ColumnType.float)
# Faults whose value stays typed (a number, a date, a string) and could trip an expression rule.
_RULE_CHECKED = {
    "negative_number",
    "out_of_range",
    "future_date",
    "bad_allowed_value",
    "bad_pattern",
    "bad_email",
    "bad_phone",
    "non_alphabetic",
    "non_alphanumeric",
    "bad_currency_code",
    "bad_uuid",
    "too_short",
    "too_long",
    "duplicate_id",
}
_TEMPORAL = (ColumnType.date, ColumnType.timestamp)


def _is_dob(col: Column) -> bool:
    return (
        (col.pii is not None and col.pii.category == PiiCategory.date_of_birth)
        or "birth" in col.name
        or col.name == "dob"
    )


def _tokens(name: str) -> set[str]:
    return set(name.lower().split("_"))


class _Builder:
    def __init__(
        self,
        contract: Contract,
        n: int,
        seed: int,
        bad_fraction: float,
        id_offset: int,
        reference_ids: int,
        chunk: int = 0,
    ):
        self.contract = contract
        self.n = n
        self.seed = abs(seed)
        self.chunk = chunk
        self.bad_fraction = bad_fraction
        self.id_offset = id_offset
        self.reference_ids = reference_ids
        self.cols = {c.name: c for c in contract.columns}
        self.comparisons = self._parse_comparisons()
        self._fmt_cache: dict[str, list[str]] = {}
        self.rule_cols = {
            name for r in contract.rules for name in self.cols if re.search(rf"\b{re.escape(name)}\b", r.expression)
        }
        self.order = self._order()
        self._warned: set[str] = set()

    # -- plumbing -----------------------------------------------------------------------
    def rng(self, *salt) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.chunk, _crc(*salt)])

    def _warn(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            warnings.warn(msg, stacklevel=4)

    def _parse_comparisons(self) -> list[_Comparison]:
        out = []
        for r in self.contract.rules:
            m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(>=|<=|>|<)\s*([A-Za-z_]\w*)\s*", r.expression)
            if not m or m.group(1) not in self.cols or m.group(3) not in self.cols:
                continue
            a, op, b = self.cols[m.group(1)], m.group(2), self.cols[m.group(3)]
            if not ((a.type in _TEMPORAL and b.type in _TEMPORAL) or (a.type in _NUMERIC and b.type in _NUMERIC)):
                continue
            if a.allowed_values or b.allowed_values:
                continue
            greater, lesser = (a.name, b.name) if op.startswith(">") else (b.name, a.name)
            out.append(_Comparison(r.id, greater, lesser, strict=len(op) == 1))
        return out

    def _name_cols(self) -> dict[str, str]:
        """Which columns hold first / last names (emails are derived from them)."""
        found = {}
        for c in self.contract.columns:
            if c.type != ColumnType.string or c.pattern or c.allowed_values:
                continue
            t = _tokens(c.name)
            namey = (c.pii is not None and c.pii.category == PiiCategory.name) or "name" in t
            if not namey:
                continue
            if t & {"first", "given", "forename"}:
                found.setdefault("first", c.name)
            elif t & {"last", "surname", "family"} or c.name in ("surname", "lastname"):
                found.setdefault("last", c.name)
        return found

    def _order(self) -> list[str]:
        """Contract order, except that a column comes after the columns it is derived from."""
        deps: dict[str, set[str]] = {name: set() for name in self.cols}
        names = set(self._name_cols().values())
        for c in self.contract.columns:
            if self._string_kind(c) == "email":
                deps[c.name] |= names
        for cmp in self.comparisons:
            deps[cmp.greater].add(cmp.lesser)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:  # cycle: give up on ordering this edge
                return
            state[name] = 1
            for d in sorted(deps[name], key=list(self.cols).index):
                visit(d)
            state[name] = 2
            order.append(name)

        for name in self.cols:
            visit(name)
        return order

    # -- build ---------------------------------------------------------------------------
    def build(self) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """(text table, fault kind per row, fault target per row) for this chunk."""
        n = self.n
        self.index = np.arange(n, dtype=np.int64)
        vals = self._clean(self.index, 0)
        pre_bad = self._enforce_rules(vals)
        null_edits = self._render_nulls(vals)
        codes, pairs, fault_edits = self._inject_faults(vals, pre_bad)
        faulty = codes >= 0
        cosmetic_edits = self._cosmetics(vals, faulty)

        arrays = {}
        for name in self.cols:
            edits = null_edits.get(name, []) + cosmetic_edits.get(name, []) + fault_edits.get(name, [])
            arrays[name] = _apply_edits(vals[name].text, edits)
        del vals
        kinds = np.array([None] + [p.kind for p in pairs], dtype=object)
        targets = np.array([None] + [p.target for p in pairs], dtype=object)
        return pa.table(arrays), kinds[codes + 1], targets[codes + 1]

    def _clean(self, idx: np.ndarray, round_: int) -> dict[str, _Val]:
        vals: dict[str, _Val] = {}
        for name in self.order:
            col = self.cols[name]
            rng = self.rng("col", name, round_)
            v = self._gen(col, idx, rng, vals)
            if self.n and self._can_be_missing(col):
                v.null = rng.random(len(idx)) < MISSING_SHARE
            vals[name] = v
        return vals

    def _can_be_missing(self, col: Column) -> bool:
        return (
            not col.required
            and not col.unique
            and col.name not in self.rule_cols
            and col.missing_policy != MissingPolicy.reject
        )

    # -- rules ---------------------------------------------------------------------------
    def _typed_series(
        self, name: str, typed, text: pa.Array | None, null: np.ndarray | None, unit: str | None
    ) -> pd.Series:
        """Values as a validator would type them, for evaluating expression rules."""
        col = self.cols[name]
        if col.type in _TEMPORAL:
            s = pd.Series(np.asarray(typed, dtype=np.int64).astype(f"datetime64[{unit}]").astype("datetime64[s]"))
        elif col.type == ColumnType.integer and typed is not None:
            s = pd.Series(np.asarray(typed).astype(np.int64))
        elif col.type in _NUMERIC and typed is not None:
            s = pd.Series(np.asarray(typed).astype(float))
        elif col.type == ColumnType.boolean and typed is not None:
            s = pd.Series(np.asarray(typed).astype(bool))
        else:
            s = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([_s(text)])))
        return s.mask(pd.Series(null)) if null is not None and null.any() else s

    def _typed_frame(self, vals: dict[str, _Val], names, rows: np.ndarray | None = None) -> pd.DataFrame:
        data = {}
        for name in names:
            v = vals[name]
            typed = None if v.typed is None else (v.typed if rows is None else np.asarray(v.typed)[rows])
            text = v.text if rows is None else _take(v.text, rows)
            null = v.null if rows is None else v.null[rows]
            data[name] = self._typed_series(name, typed, text, null, v.unit)
        return pd.DataFrame(data)

    def _rules_hold(self, rows: np.ndarray, subst: dict[str, pd.Series], vals, skip: str | None = None) -> np.ndarray:
        """Do the expression rules that read the substituted columns still hold on ``rows``?
        A fault must violate only its own rule; rules are taken to apply only where all their
        operands are present, so null / unparseable faults never count against them."""
        ok = np.ones(len(rows), dtype=bool)
        rules = [
            r
            for r in self.contract.rules
            if r.id != skip and any(re.search(rf"\b{re.escape(c)}\b", r.expression) for c in subst)
        ]
        if not rules or not len(rows):
            return ok
        df = self._typed_frame(vals, sorted(self.rule_cols, key=list(self.cols).index), rows)
        for name, series in subst.items():
            df[name] = series.set_axis(df.index)
        for r in rules:
            try:
                res = pd.Series(df.eval(r.expression, engine="python"), index=df.index)
            except Exception:  # noqa: BLE001 - unevaluable rules were already warned about
                continue
            used = [c for c in self.rule_cols if re.search(rf"\b{re.escape(c)}\b", r.expression)]
            present = df[used].notna().all(axis=1).to_numpy()
            ok &= ~present | res.fillna(False).astype(bool).to_numpy()
        return ok

    def _rule_failures(self, vals: dict[str, _Val]) -> dict[str, np.ndarray]:
        out = {}
        if not self.contract.rules or self.n == 0:
            return out
        df = self._typed_frame(vals, sorted(self.rule_cols, key=list(self.cols).index))
        for r in self.contract.rules:
            try:
                res = df.eval(r.expression, engine="python")
                ok = np.asarray(pd.Series(res).fillna(False).astype(bool))
            except Exception as e:  # noqa: BLE001 - an expression we cannot evaluate is skipped
                self._warn(
                    f"sample_data: rule '{r.id}' not evaluated while generating ({e}); clean rows may violate it"
                )
                continue
            out[r.id] = ~ok
        return out

    def _enforce_rules(self, vals: dict[str, _Val]) -> dict[str, np.ndarray]:
        """Regenerate whole rows until every expression rule holds (rejection sampling);
        rows still failing after a few rounds are returned and reported as rule_violation."""
        for round_ in range(1, 16):
            fails = self._rule_failures(vals)
            bad = np.zeros(self.n, dtype=bool)
            for f in fails.values():
                bad |= f
            if not bad.any():
                return {}
            rows = np.flatnonzero(bad)
            new = self._clean(self.index[rows], round_)
            for name, v in vals.items():
                nv = new[name]
                if v.typed is not None:
                    v.typed[rows] = nv.typed
                v.null[rows] = nv.null
                v.text = _apply_edits(v.text, [(rows, nv.text)])
        fails = self._rule_failures(vals)
        for rid, f in fails.items():
            if f.any():
                self._warn(
                    f"sample_data: {int(f.sum())} rows still violate rule '{rid}'; "
                    "they are reported as rule_violation faults"
                )
        return {rid: f for rid, f in fails.items() if f.any()}

    # -- column generators ---------------------------------------------------------------
    def _gen(self, col: Column, idx: np.ndarray, rng: np.random.Generator, vals: dict[str, _Val]) -> _Val:
        n = len(idx)
        null = np.zeros(n, dtype=bool)
        if col.allowed_values:
            return self._gen_allowed(col, n, rng, null)
        if col.type == ColumnType.integer:
            v = self._gen_integer(col, idx, rng)
            return _Val(v, _int_text(v), null)
        if col.type == ColumnType.float:
            cents = self._gen_cents(col, n, rng)
            return _Val(cents / 100.0, _money_text(cents), null)
        if col.type in _TEMPORAL:
            unit = "D" if col.type == ColumnType.date else "s"
            v = self._gen_temporal(col, n, rng, vals, unit)
            return _Val(v, _render_temporal(v, unit, self._formats(col)[0]), null, unit=unit)
        if col.type == ColumnType.boolean:
            b = rng.random(n) < 0.7
            return _Val(b, _take(["false", "true"], b.astype(np.int64)), null)
        text, vocab = self._gen_string(col, idx, rng, vals)
        return _Val(None, text, null, vocab=vocab)

    def _gen_allowed(self, col: Column, n: int, rng, null) -> _Val:
        allowed = list(col.allowed_values)
        pick = _weighted(rng, n, _zipf_weights(len(allowed)))
        if col.type in _NUMERIC:
            arr = np.asarray([float(a) for a in allowed])[pick]
            text = (
                _int_text(arr.astype(np.int64))
                if col.type == ColumnType.integer
                else _take([str(a) for a in allowed], pick)
            )
            return _Val(arr, text, null)
        if col.type in _TEMPORAL:
            unit = "D" if col.type == ColumnType.date else "s"
            arr = np.asarray([_parse_bound(a, unit) for a in allowed], dtype=np.int64)[pick]
            return _Val(arr, _take([str(a) for a in allowed], pick), null, unit=unit)
        return _Val(None, self._apply_case(col, _take([str(a) for a in allowed], pick)), null)

    def _is_reference(self, col: Column) -> bool:
        return not col.unique and (
            (col.pii is not None and col.pii.category == PiiCategory.identifier) or col.name.endswith("_id")
        )

    def _gen_integer(self, col: Column, idx: np.ndarray, rng) -> np.ndarray:
        n = len(idx)
        lo = None if col.min is None else math.ceil(col.min)
        hi = None if col.max is None else math.floor(col.max)
        if col.unique:
            start = lo if lo is not None else 1
            v = start + self.id_offset + idx
            if hi is not None and n and v.max() > hi:
                raise ValueError(f"column '{col.name}': {n} unique ids from {start} exceed max {hi}")
            return v.astype(np.int64)
        if self._is_reference(col):
            v = 1 + np.floor(self.reference_ids * rng.random(n) ** 1.3).astype(np.int64)
        elif _tokens(col.name) & {"age"}:
            v = rng.integers(18, 91, n)
        elif _tokens(col.name) & {"quantity", "qty", "count", "items", "units"}:
            v = 1 + rng.geometric(0.45, n)
        else:
            a = lo if lo is not None else 0
            if hi is not None and hi - a <= 1000:
                v = rng.integers(a, hi + 1, n)
            else:
                median = max(10.0, (hi - a) / 100 if hi is not None else 50.0)
                v = a + np.floor(median * rng.lognormal(0.0, 1.0, n)).astype(np.int64)
        if lo is not None or hi is not None:
            v = np.clip(v, lo, hi)
        return v.astype(np.int64)

    def _gen_cents(self, col: Column, n: int, rng) -> np.ndarray:
        t = _tokens(col.name)
        lo, hi = col.min, col.max
        if t & {"income", "salary", "wage", "wages", "revenue", "earnings"} or (
            col.pii is not None and col.pii.category == PiiCategory.financial
        ):
            x = 58_000 * rng.lognormal(0.0, 0.75, n)
        elif t & {"amount", "price", "total", "cost", "value", "balance", "payment", "fee", "spend"}:
            x = 45 * rng.lognormal(0.0, 1.25, n)
        elif lo is not None and hi is not None and hi - lo <= 1000:
            x = rng.uniform(lo, hi, n)
        else:
            base = lo if lo is not None else 0.0
            scale = max(1.0, (hi - base) / 1000) if hi is not None else 100.0
            x = base + scale * rng.lognormal(0.0, 1.0, n)
        cents = np.round(x * 100).astype(np.int64)
        if lo is not None:
            cents = np.maximum(cents, math.ceil(round(lo * 100, 6)))
        if hi is not None:
            cents = np.minimum(cents, math.floor(round(hi * 100, 6)))
        return cents

    def _range(self, col: Column, unit: str) -> tuple[int, int]:
        """Default realistic range intersected with the contract's min/max (in ``unit``)."""
        per_day = _UNIT_SECONDS["D"] // _UNIT_SECONDS[unit]
        day = lambda d: int(np.datetime64(d, "D").astype(np.int64)) * per_day  # noqa: E731
        if _is_dob(col):
            dlo, dhi = day("1940-01-01"), day("2006-12-31")
        else:
            dlo, dhi = day("2000-01-01"), day(str(END_DATE))
        dhi += per_day - 1
        cmin, cmax = _parse_bound(col.min, unit), _parse_bound(col.max, unit)
        lo = max(dlo, cmin) if cmin is not None else dlo
        hi = min(dhi, cmax) if cmax is not None else dhi
        if lo > hi:  # the contract's range lies outside the defaults: use it
            lo = cmin if cmin is not None else cmax - 3650 * per_day
            hi = cmax if cmax is not None else lo + 3650 * per_day
        if col.not_in_future:
            hi = min(hi, day(str(END_DATE)) + per_day - 1)
            lo = min(lo, hi)
        return lo, hi

    def _partner_bound(self, cmp: _Comparison, unit: str, vals: dict[str, _Val]) -> np.ndarray:
        """Per-row lower bound of the greater column of a comparison, from the lesser one."""
        p = vals[cmp.lesser]
        pv = np.asarray(p.typed)
        g = self.cols[cmp.greater]
        if g.type in _TEMPORAL:
            sec = pv * _UNIT_SECONDS[p.unit]
            if _is_dob(self.cols[cmp.lesser]):
                sec = sec + 18 * 365 * 86400 + 5 * 86400  # accounts are opened by adults
            step = _UNIT_SECONDS[unit] if cmp.strict else 0
            return -(-sec // _UNIT_SECONDS[unit]) + (step // _UNIT_SECONDS[unit])
        return pv + (1 if cmp.strict else 0)

    def _gen_temporal(self, col: Column, n: int, rng, vals: dict[str, _Val], unit: str) -> np.ndarray:
        lo, hi = self._range(col, unit)
        pos = rng.beta(2.2, 2.0, n) if _is_dob(col) else rng.random(n) ** 0.65
        lo_row = np.full(n, lo, dtype=np.int64)
        for cmp in self.comparisons:
            if cmp.greater == col.name and cmp.lesser in vals:
                lo_row = np.maximum(lo_row, self._partner_bound(cmp, unit, vals))
        span = np.maximum(hi - lo_row + 1, 1)
        if unit == "s" and not (lo_row > lo).any():
            per_day = 86400
            days = lo // per_day + np.floor(pos * ((hi - lo + 1) // per_day)).astype(np.int64)
            secs = _weighted(rng, n, HOUR_WEIGHTS) * 3600 + rng.integers(0, 3600, n)
            v = days * per_day + secs
            return np.clip(v, lo, hi)
        return np.minimum(lo_row + np.floor(pos * span).astype(np.int64), hi)

    def _formats(self, col: Column) -> list[str]:
        """Accepted input formats, canonical first, ambiguous alternatives dropped (an
        alternative that an earlier format would read as a different date is never emitted)."""
        if col.name not in self._fmt_cache:
            self._fmt_cache[col.name] = self._compute_formats(col)
        return self._fmt_cache[col.name]

    def _compute_formats(self, col: Column) -> list[str]:
        if col.date_formats:
            fmts = list(col.date_formats)
        else:
            fmts = list(DEFAULT_DATE_FORMATS if col.type == ColumnType.date else DEFAULT_TIMESTAMP_FORMATS)
        from datetime import datetime

        probes = [datetime(2021, 3, 4, 5, 6, 7), datetime(2021, 11, 12, 13, 14, 15)]
        kept = [fmts[0]]
        for f in fmts[1:]:
            ok = True
            for p in probes:
                s = p.strftime(f)
                for g in kept:
                    try:
                        if datetime.strptime(s, g) != datetime.strptime(s, f):
                            ok = False
                    except ValueError:
                        pass
            if ok:
                kept.append(f)
        return kept

    # strings ---------------------------------------------------------------------------
    def _string_kind(self, col: Column) -> str:
        t = _tokens(col.name)
        cat = col.pii.category if col.pii is not None else None
        if col.allowed_values:
            return "allowed"
        if col.pattern:
            return "pattern"
        if col.format == Format.email or cat == PiiCategory.email or "email" in t:
            return "email"
        if col.format == Format.phone or cat == PiiCategory.phone or t & {"phone", "mobile", "telephone"}:
            return "phone"
        if col.format == Format.currency_code or "currency" in t:
            return "currency"
        if col.format == Format.uuid or "uuid" in t:
            return "uuid"
        if cat == PiiCategory.address or "address" in t:
            return "address"
        if cat == PiiCategory.national_id or t & {"ssn"}:
            return "national_id"
        if cat == PiiCategory.name or ("name" in t and not t & {"company", "merchant", "product", "file"}):
            return "name"
        if col.format == Format.alphanumeric:
            return "code"
        if "city" in t:
            return "city"
        if "state" in t:
            return "state"
        if t & {"zip", "postal", "postcode", "zipcode"}:
            return "zip"
        if "country" in t:
            return "country"
        if t & {"company", "merchant", "vendor", "employer"}:
            return "company"
        if cat == PiiCategory.financial or t & {"iban", "account"}:
            return "digits"
        return "words"

    def _gen_string(self, col: Column, idx: np.ndarray, rng, vals) -> tuple[pa.Array, tuple | None]:
        n = len(idx)
        kind = self._string_kind(col)
        vocab = None
        if kind == "pattern":
            text = self._gen_pattern(col, idx, rng)
            if text is not None:
                return self._apply_case(col, text), None
            kind = "words"
        if kind == "email":
            text = self._gen_email(col, idx, rng, vals)
        elif kind == "phone":
            text = self._gen_phone(n, rng)
        elif kind == "currency":
            text = _take(CURRENCY_CODES, _weighted(rng, n, _zipf_weights(len(CURRENCY_CODES))))
        elif kind == "uuid":
            text = self._gen_uuid(n, rng)
        elif kind == "address":
            text = self._gen_address(n, rng)
        elif kind == "national_id":
            area = rng.integers(1, 900, n)
            area = np.where(area == 666, 667, area)
            text = _join(_pad(area, 3), "-", _pad(rng.integers(1, 100, n), 2), "-", _pad(rng.integers(1, 10000, n), 4))
        elif kind == "name":
            t = _tokens(col.name)
            names = self._name_cols()
            if col.name == names.get("first"):
                vocab, text = self._vocab_pick(col, FIRST_NAMES, n, rng)
            elif col.name == names.get("last") or t & {"surname"}:
                vocab, text = self._vocab_pick(col, LAST_NAMES, n, rng)
            else:
                _, f = self._vocab_pick(col, FIRST_NAMES, n, rng)
                _, l_ = self._vocab_pick(col, LAST_NAMES, n, rng)
                text = _join(f, " ", l_)
        elif kind == "code":
            lo = max(col.min_length or 8, 1)
            hi = max(lo, min(col.max_length or 12, lo + 6))
            count = rng.integers(lo, hi + 1, n)
            chars = np.asarray([ord(c) for c in "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"], dtype=np.uint32)
            mat = chars[rng.integers(0, len(chars), (n, hi))]
            mat[np.arange(hi)[None, :] >= count[:, None]] = 0
            text = _codes_to_strings(mat)
        elif kind == "city":
            text = _take([c for c, _, _ in CITIES], rng.integers(0, len(CITIES), n))
        elif kind == "state":
            text = _take([s for _, s, _ in CITIES], rng.integers(0, len(CITIES), n))
        elif kind == "zip":
            z = np.asarray([z for _, _, z in CITIES])[rng.integers(0, len(CITIES), n)] + rng.integers(0, 10, n)
            text = _pad(z, 5)
        elif kind == "country":
            text = _take(COUNTRY_CODES, _weighted(rng, n, _zipf_weights(len(COUNTRY_CODES), 1.2)))
        elif kind == "company":
            text = _join(
                _take(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n)),
                " ",
                _take(COMPANY_SUFFIXES, rng.integers(0, len(COMPANY_SUFFIXES), n)),
            )
        elif kind == "digits":
            width = max(col.min_length or 10, 1)
            width = min(width, col.max_length or width)
            mat = rng.integers(48, 58, (n, width)).astype(np.uint32)
            mat[:, 0] = rng.integers(49, 58, n)
            text = _codes_to_strings(mat)
        else:
            text = self._gen_words(n, rng, 1 + rng.integers(0, 3, n), col.format == Format.alphabetic)
        if col.unique and kind not in ("uuid", "email"):
            text = self._make_unique(col, text, idx)
        if kind not in ("email", "phone", "currency", "uuid", "national_id", "zip", "country"):
            text = self._fit_length(col, text, rng)
        return self._apply_case(col, text), vocab

    def _vocab_pick(self, col, vocab: list[str], n: int, rng) -> tuple[tuple, pa.Array]:
        lo, hi = col.min_length or 0, col.max_length or 10**9
        usable = [w for w in vocab if lo <= len(w) <= hi] or vocab
        w = 1.0 / (np.arange(len(usable)) + 15.0)  # common names are more common
        i = _weighted(rng, n, w)
        return (tuple(usable), i), _take(usable, i)

    def _gen_words(self, n: int, rng, count: np.ndarray, letters_only: bool) -> pa.Array:
        words = [w for w in WORDS if w.isalpha()] if letters_only else WORDS
        out = _take(words, rng.integers(0, len(words), n))
        for j in range(1, int(count.max(initial=1))):
            more = _join(out, " ", _take(words, rng.integers(0, len(words), n)))
            out = pc.if_else(pa.array(count > j), more, out)
        return out

    def _fit_length(self, col: Column, text: pa.Array, rng) -> pa.Array:
        lo, hi = col.min_length, col.max_length
        n = len(text)
        if not (lo or hi) or n == 0:
            return text
        mm = pc.min_max(pc.utf8_length(text))
        if (not lo or mm["min"].as_py() >= lo) and (not hi or mm["max"].as_py() <= hi):
            return text
        if lo:
            for _ in range(40):
                short = np.asarray(pc.less(pc.utf8_length(text), lo).fill_null(False))
                if not short.any():
                    break
                more = _join(text, " ", self._gen_words(n, rng, np.ones(n, np.int64), True))
                text = pc.if_else(pa.array(short), more, text)
        if hi:
            text = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, hi))
        if lo:
            text = pc.utf8_rpad(text, lo, padding="x")
        return text

    def _make_unique(self, col: Column, text: pa.Array, idx: np.ndarray) -> pa.Array:
        x = self.id_offset + idx + 1
        if col.format == Format.alphabetic:
            mat = np.zeros((len(x), 8), dtype=np.uint32)
            rem = x.copy()
            for j in range(7, -1, -1):
                mat[:, j] = np.where(rem > 0, 97 + rem % 26, 0)
                rem //= 26
            return _join(text, " ", pc.utf8_capitalize(_codes_to_strings(mat)))
        return _join(text, "-", _int_text(x))

    def _apply_case(self, col: Column, text: pa.Array) -> pa.Array:
        """Canonical values are already in the case cleaning produces (lower/upper)."""
        case = col.cleaning.case
        if case == Case.lower:
            return pc.utf8_lower(text)
        if case == Case.upper:
            return pc.utf8_upper(text)
        return text

    def _gen_pattern(self, col: Column, idx: np.ndarray, rng) -> pa.Array | None:
        n = len(idx)
        try:
            parsed = _sre_parse.parse(col.pattern)
            slots: list = []
            mat = _emit(list(parsed), n, rng, slots)
        except (_Unsupported, re.error, TypeError, ValueError) as e:
            self._warn(
                f"sample_data: column '{col.name}': pattern {col.pattern!r} not supported ({e}); "
                "generated values will not match it"
            )
            return None
        if col.unique and n:
            space = self.id_offset + int(idx.max()) + 1
            best = max(slots, key=lambda s: s[1], default=None)
            if best is not None and 10 ** min(best[1], 18) >= space:
                start, width = best
                v = _scramble(self.id_offset + idx, width, _crc(col.name))
                d = min(width, 12)
                for j in range(d):
                    mat[:, start + width - d + j] = 48 + (v // 10 ** (d - 1 - j)) % 10
            else:
                text = _codes_to_strings(mat)
                for _attempt in range(20):
                    dup = np.asarray(pd.Series(np.asarray(text, dtype=object)).duplicated())
                    if not dup.any():
                        return text
                    rows = np.flatnonzero(dup)
                    text = _apply_edits(text, [(rows, _codes_to_strings(_emit(list(parsed), len(rows), rng)))])
                raise ValueError(f"column '{col.name}': cannot generate {n} unique values for pattern {col.pattern!r}")
        text = _codes_to_strings(mat)
        sample = text.slice(0, min(n, 200)).to_pylist()
        if any(re.fullmatch(col.pattern, s) is None for s in sample):
            self._warn(f"sample_data: column '{col.name}': generated values do not match {col.pattern!r}")
        return text

    def _gen_email(self, col: Column, idx: np.ndarray, rng, vals) -> pa.Array:
        """first.last@gmail.com and friends, derived from the row's own names when the
        contract has name columns."""
        n = len(idx)
        names = self._name_cols()

        def source(which: str, vocab: list[str]) -> tuple[list[str], np.ndarray]:
            v = vals.get(names.get(which, ""))
            if v is not None and v.vocab is not None:
                words, i = v.vocab
            else:
                words, i = vocab, rng.integers(0, len(vocab), n)
            return [re.sub(r"[^a-z]", "", w.lower()) or "x" for w in words], i

        first, fi = source("first", FIRST_NAMES)
        last, li = source("last", LAST_NAMES)
        # one table: first names, initials, last names, "" (index -1)
        table = _table(first + [w[0] for w in first] + last + [""])
        F = len(first)
        variant = _weighted(rng, n, [40, 18, 12, 10, 8, 6, 6])
        #          first.last  flast  firstlast42  first_last  first42  last.first  first.last87
        p1 = np.where(variant == 1, F + fi, np.where(variant == 5, 2 * F + li, fi))
        p2 = np.select([variant == 4, variant == 5], [len(table) - 1, fi], 2 * F + li)
        seps = np.asarray([ord("."), 0, 0, ord("_"), 0, ord("."), ord(".")], dtype=np.uint8)[variant][:, None]
        num = rng.integers(1, 100, n)
        num = np.where(variant == 6, 60 + num % 40, num)
        numm = _digits(num, 2)
        numm[~np.isin(variant, (2, 4, 6))] = 0
        parts = [table[p1], seps, table[p2], numm]
        if col.unique:
            uniq = self.id_offset + idx + 1
            w = len(str(int(uniq.max(initial=1)))) + 1
            parts += [np.full((n, 1), ord("."), np.uint8), _digits(uniq, w)]
        dom = _table(["@" + d for d in EMAIL_DOMAINS])[_weighted(rng, n, EMAIL_DOMAIN_WEIGHTS)]
        return _codes_to_strings(np.concatenate(parts + [dom], axis=1))

    def _gen_phone(self, n: int, rng) -> pa.Array:
        """XXX-XXX-XXXX with a real area code and a valid exchange (not N11, not 555)."""
        area = np.asarray(AREA_CODES)[rng.integers(0, len(AREA_CODES), n)]
        exch = rng.integers(200, 1000, n)
        exch = np.where((exch % 100 == 11) | (exch == 555), exch + 1, exch)
        line = rng.integers(0, 10000, n)
        d3 = _digits(np.arange(1000), 3, pad=True)
        dash = np.full((n, 1), ord("-"), dtype=np.uint8)
        mat = np.concatenate([d3[area], dash, d3[exch], dash, _digits(np.arange(10000), 4, pad=True)[line]], axis=1)
        return _codes_to_strings(mat)

    def _gen_uuid(self, n: int, rng) -> pa.Array:
        b = rng.integers(0, 256, (n, 16), dtype=np.uint8)
        b[:, 6] = (b[:, 6] & 0x0F) | 0x40
        b[:, 8] = (b[:, 8] & 0x3F) | 0x80
        hexd = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
        h = np.empty((n, 32), dtype=np.uint8)
        h[:, 0::2] = hexd[b >> 4]
        h[:, 1::2] = hexd[b & 0x0F]
        dash = np.full((n, 1), ord("-"), dtype=np.uint8)
        mat = np.concatenate(
            [h[:, :8], dash, h[:, 8:12], dash, h[:, 12:16], dash, h[:, 16:20], dash, h[:, 20:]], axis=1
        )
        return _codes_to_strings(mat)

    def _gen_address(self, n: int, rng) -> pa.Array:
        """'123 Main St Apt 4B, Springfield, IL 62704': the city masking strategy splits on
        commas, so units go before the first comma."""
        number = np.exp(rng.uniform(0, math.log(9999), n)).astype(np.int64) + 1
        streets = _table([f" {a} {b}" for a in STREET_NAMES for b in STREET_SUFFIXES])
        street_i = rng.integers(0, len(STREET_NAMES), n) * len(STREET_SUFFIXES) + _weighted(
            rng, n, STREET_SUFFIX_WEIGHTS
        )
        unit_names = (
            [""]
            + [f" Apt {k}{x}" for k in range(1, 40) for x in ("", "A", "B", "C")]
            + [f" Unit {k}" for k in range(1, 40)]
            + [f" Ste {k * 10 + 100}" for k in range(1, 40)]
        )
        unit_kind = _weighted(rng, n, [88, 7, 3, 2])
        k = rng.integers(0, 39, n)
        unit_i = np.select(
            [unit_kind == 1, unit_kind == 2, unit_kind == 3],
            [1 + 4 * k + rng.integers(0, 4, n), 1 + 156 + k, 1 + 195 + k],
            0,
        )
        city_i = rng.integers(0, len(CITIES), n)
        places = _table([f", {c}, {st} " for c, st, _ in CITIES])
        zips = np.asarray([z for _, _, z in CITIES])[city_i] + rng.integers(0, 10, n)
        mat = np.concatenate(
            [
                _digits(number, 5),
                streets[street_i],
                _table(unit_names)[unit_i],
                places[city_i],
                _digits(np.arange(100000), 5, pad=True)[zips],
            ],
            axis=1,
        )
        return _codes_to_strings(mat)

    # -- natural nulls -------------------------------------------------------------------
    def _null_tokens(self) -> list[str]:
        return [t for t in self.contract.source.null_values if t.strip()]

    def _render_nulls(self, vals: dict[str, _Val]) -> dict[str, list]:
        rng = self.rng("nulls")
        tokens = self._null_tokens()
        out: dict[str, list] = {}
        for name, v in vals.items():
            rows = np.flatnonzero(v.null)
            if not len(rows):
                continue
            as_token = rng.random(len(rows)) < (NULL_TOKEN_SHARE if tokens else 0)
            edits = [(rows[~as_token], None)]
            if as_token.any():
                edits.append((rows[as_token], _take(tokens, rng.integers(0, len(tokens), int(as_token.sum())))))
            out[name] = edits
        return out

    # -- cosmetics -----------------------------------------------------------------------
    def _cosmetic_transforms(self, col: Column, v: _Val) -> list[Callable]:
        t: list[Callable] = []
        if col.cleaning.trim:
            t.append(self._cos_whitespace)
        if col.type == ColumnType.string and col.cleaning.case != Case.keep:
            t.append(self._cos_case)
        if (
            col.type == ColumnType.string
            and col.cleaning.collapse_whitespace
            and self._string_kind(col) in ("address", "name", "words", "company")
        ):
            t.append(self._cos_double_space)
        if col.type == ColumnType.string and self._string_kind(col) == "phone":
            t += [self._cos_phone] * 3
        if col.type in _TEMPORAL and len(self._formats(col)) > 1 and not col.allowed_values:
            t += [self._cos_date] * 3
        return t

    def _cosmetics(self, vals: dict[str, _Val], faulty: np.ndarray) -> dict[str, list]:
        rng = self.rng("cosmetic")
        capable = [(name, tr) for name in self.cols if (tr := self._cosmetic_transforms(self.cols[name], vals[name]))]
        out: dict[str, list] = {}
        if not capable or self.n == 0:
            return out
        clean = np.flatnonzero(~faulty)
        dirty = clean[rng.random(len(clean)) < COSMETIC_SHARE]
        which = rng.integers(0, len(capable), len(dirty))
        for ci, (name, transforms) in enumerate(capable):
            v = vals[name]
            rows = dirty[which == ci]
            rows = rows[~v.null[rows]]
            t_pick = rng.integers(0, len(transforms), len(rows))
            for ti in np.unique(t_pick):
                sub = rows[t_pick == ti]
                new = transforms[ti](self.cols[name], v, sub, rng)
                out.setdefault(name, []).append((sub, new))
        return out

    def _cos_whitespace(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        return _pick(rng, [_join(" ", x), _join(x, " "), _join("  ", x, "  "), _join(x, "   ")])

    def _cos_case(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        options = {
            Case.lower: [pc.utf8_upper, pc.utf8_title],
            Case.upper: [pc.utf8_lower, pc.utf8_title],
            Case.title: [pc.utf8_upper, pc.utf8_lower],
        }[col.cleaning.case]
        return _pick(rng, [f(x) for f in options])

    def _cos_double_space(self, col, v, rows, rng) -> pa.Array:
        return pc.replace_substring(_take(v.text, rows), " ", "  ", max_replacements=1)

    def _cos_phone(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        a, e, l_ = (pc.utf8_slice_codeunits(x, s, s + w) for s, w in ((0, 3), (4, 3), (8, 4)))
        return _pick(
            rng,
            [
                _join("(", a, ") ", e, "-", l_),
                _join(a, ".", e, ".", l_),
                _join("+1 ", a, " ", e, " ", l_),
                _join(a, e, l_),
                _join("1-", a, "-", e, "-", l_),
                _join(a, " ", e, " ", l_),
            ],
        )

    def _cos_date(self, col, v, rows, rng) -> pa.Array:
        alts = self._formats(col)[1:]
        typed = np.asarray(v.typed)[rows]
        return _pick(rng, [_strftime(typed, v.unit, f) for f in alts])

    # -- faults --------------------------------------------------------------------------
    def _fault_pairs(self, vals: dict[str, _Val]) -> list[_Pair]:
        pairs: list[_Pair] = []
        for col in self.contract.columns:
            for kind in self._column_fault_kinds(col):
                pairs.append(_Pair(kind, col.name, col.name))
        for cmp in self.comparisons:
            if self._rule_fault_window(cmp) is not None:
                kind = "birth_after_creation" if _is_dob(self.cols[cmp.lesser]) else "rule_violation"
                pairs.append(_Pair(kind, f"rule:{cmp.rule_id}", None, cmp))
        return pairs

    def _column_fault_kinds(self, col: Column) -> list[str]:
        kinds = []
        if col.missing_policy == MissingPolicy.reject:
            kinds.append("null_required")
        if col.unique:
            kinds.append("duplicate_id")
        if col.type in _NUMERIC:
            kinds.append("non_numeric")
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            else:
                if col.min is not None and col.min >= 0:
                    kinds.append("negative_number")
                if col.max is not None or (col.min is not None and (col.min < 0 or (col.min > 0 and not col.unique))):
                    kinds.append("out_of_range")
        elif col.type in _TEMPORAL:
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            fmt = self._formats(col)[0]
            if {"Y", "m", "d"} <= set(re.findall(r"%(.)", fmt)):
                kinds.append("impossible_date")
            kinds.append("malformed_date")
            if col.not_in_future and col.max is None:
                kinds.append("future_date")
            if not col.allowed_values and (col.min is not None or col.max is not None):
                kinds.append("out_of_range")
        elif col.type == ColumnType.boolean:
            kinds.append("bad_boolean")
        else:
            kind = self._string_kind(col)
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            elif col.pattern:
                kinds.append("bad_pattern")
            elif col.format is not None:
                kinds.append(
                    {
                        Format.email: "bad_email",
                        Format.phone: "bad_phone",
                        Format.alphabetic: "non_alphabetic",
                        Format.alphanumeric: "non_alphanumeric",
                        Format.currency_code: "bad_currency_code",
                        Format.uuid: "bad_uuid",
                    }[col.format]
                )
            plain = (
                not col.allowed_values
                and not col.pattern
                and col.format in (None, Format.alphabetic, Format.alphanumeric)
                and kind not in ("uuid",)
            )
            if plain and col.min_length is not None and col.min_length > 1:
                kinds.append("too_short")
            if plain and col.max_length is not None:
                kinds.append("too_long")
        return kinds

    def _inject_faults(self, vals: dict[str, _Val], pre_bad: dict[str, np.ndarray]):
        n = self.n
        rng = self.rng("faults")
        pairs = self._fault_pairs(vals)
        base = len(pairs)
        codes = np.full(n, -1, dtype=np.int64)
        edits: dict[str, list] = {}
        # rows that generation could not make satisfy a rule are faults too (rare, warned)
        for rid, mask in pre_bad.items():
            pairs.append(_Pair("rule_violation", f"rule:{rid}", None))
            codes[mask & (codes < 0)] = len(pairs) - 1
        k = min(int(round(n * self.bad_fraction)), int((codes < 0).sum()))
        if base == 0 or k == 0:
            return codes, pairs, edits
        free = np.flatnonzero(codes < 0)
        rows = np.sort(rng.choice(free, size=k, replace=False))
        assigned = rng.integers(0, base, k)
        codes[rows] = assigned
        pair_index = {(p.kind, p.target): i for i, p in enumerate(pairs)}
        clean_sorted = np.flatnonzero(codes < 0)

        todo = [(i, rows[assigned == i]) for i in range(base)]
        while todo:
            i, sub = todo.pop(0)
            if not len(sub):
                continue
            p = pairs[i]
            values, ok, fallback = self._fault_values(p, sub, vals, rng, clean_sorted, edits)
            if values is not None and p.column is not None and p.column in self.rule_cols and p.kind in _RULE_CHECKED:
                keep = self._rules_hold(sub[ok], {p.column: self._fault_typed(p.column, values)}, vals)
                values = values.filter(pa.array(keep))
                ok[np.flatnonzero(ok)[~keep]] = False
            if values is not None and p.column is not None:
                edits.setdefault(p.column, []).append((sub[ok], values))
            bad = sub[~ok]
            if len(bad):
                if fallback is None:
                    codes[bad] = -1
                    continue
                key = (fallback, p.target)
                if key not in pair_index:
                    pairs.append(_Pair(fallback, p.target, p.column))
                    pair_index[key] = len(pairs) - 1
                j = pair_index[key]
                codes[bad] = j
                todo.append((j, bad))
        return codes, pairs, edits

    def _fault_typed(self, name: str, values: pa.Array) -> pd.Series:
        """Parse injected text the way a validator would, for the rule check."""
        col = self.cols[name]
        s = pd.Series(values.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow")))
        s = s.str.strip()
        if col.type in _NUMERIC:
            return pd.to_numeric(s, errors="coerce")
        if col.type in _TEMPORAL:
            out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
            for f in self._formats(col):
                miss = out.isna()
                out[miss] = pd.to_datetime(s[miss], format=f, errors="coerce")
            return out
        if col.cleaning.case == Case.lower:
            s = s.str.lower()
        elif col.cleaning.case == Case.upper:
            s = s.str.upper()
        return s

    def _fallback(self, col: Column, kind: str) -> str | None:
        if col.type in _TEMPORAL:
            return "malformed_date"
        if col.type in _NUMERIC:
            return "non_numeric"
        if kind != "null_required" and col.missing_policy == MissingPolicy.reject:
            return "null_required"
        return None

    def _fault_values(self, p: _Pair, rows: np.ndarray, vals, rng, clean_sorted, edits):
        """(values, ok mask, fallback kind) for one fault kind on ``rows``."""
        m = len(rows)
        ok = np.ones(m, dtype=bool)
        if p.comparison is not None:
            return None, self._fault_rule(p.comparison, rows, vals, rng, edits), None
        col = self.cols[p.column]
        v = vals[col.name]
        fb = self._fallback(col, p.kind)
        x = _take(v.text, rows)
        kind = p.kind

        if kind == "null_required":
            tokens = self._null_tokens()
            if "" in self.contract.source.null_values:
                tokens = tokens + ["   "]
            as_null = rng.random(m) < 0.7 if tokens else np.ones(m, dtype=bool)
            tok = _take(tokens or [""], rng.integers(0, max(len(tokens), 1), m))
            return pc.if_else(pa.array(as_null), pa.nulls(m, pa.string()), tok), ok, None
        if kind == "duplicate_id":
            cnt = np.searchsorted(clean_sorted, rows)
            ok = cnt > 0
            src = clean_sorted[np.floor(rng.random(m) * np.maximum(cnt, 1)).astype(np.int64)]
            return _take(v.text, src[ok]), ok, fb
        if kind == "non_numeric":
            return (
                _pick(
                    rng,
                    [
                        pa.array(["#VALUE!"] * m, pa.string()),
                        pa.array(["unknown"] * m, pa.string()),
                        _join(x, "x"),
                        _join(x, ".5.1"),
                    ],
                ),
                ok,
                None,
            )
        if kind in ("negative_number", "out_of_range") and col.type in _NUMERIC:
            cand = self._numeric_fault(col, kind, np.asarray(v.typed)[rows], rng)
            c = cand
            text = _int_text(c) if col.type == ColumnType.integer else _money_text(np.round(c * 100))
            return text, ok, fb
        if kind == "bad_allowed_value":
            return self._bad_allowed(col, m, rng), ok, None
        if kind in ("impossible_date", "malformed_date", "future_date", "out_of_range"):
            return self._temporal_fault(col, kind, rows, vals, rng)
        if kind == "bad_boolean":
            return _take(["maybe", "2", "unknown", "yes please"], rng.integers(0, 4, m)), ok, None
        if kind == "bad_email":
            return (
                _pick(
                    rng,
                    [
                        pc.replace_substring(x, "@", ""),
                        pc.replace_substring(x, "@", " at "),
                        pc.replace_substring(x, "@", "@@"),
                        pc.replace_substring_regex(x, r"\.[A-Za-z]+$", ""),
                        pc.replace_substring_regex(x, "@.*$", "@"),
                    ],
                ),
                ok,
                None,
            )
        if kind == "bad_phone":
            a, e, l_ = (pc.utf8_slice_codeunits(x, s, s + w) for s, w in ((0, 3), (4, 3), (8, 4)))
            return (
                _pick(
                    rng,
                    [
                        _join(e, "-", l_),
                        _join(a, "-", e, "-", pc.utf8_slice_codeunits(l_, 0, 3)),
                        _join(a, "-", e, "-", l_, _int_text(rng.integers(0, 10, m))),
                    ],
                ),
                ok,
                None,
            )
        if kind in ("non_alphabetic", "non_alphanumeric"):
            chars = "0123456789@#" if kind == "non_alphabetic" else "#@!%&*"
            parts = [pc.utf8_replace_slice(x, 1, 2, ch) for ch in chars]
            return _pick(rng, parts), ok, None
        if kind == "bad_currency_code":
            return _take(["US$", "EURO", "DOLLARS", "12A", "E", "POUND"], rng.integers(0, 6, m)), ok, None
        if kind == "bad_uuid":
            return (
                _pick(
                    rng,
                    [
                        pc.utf8_slice_codeunits(x, 0, 35),
                        pc.utf8_replace_slice(x, 0, 1, "g"),
                        pc.replace_substring(x, "-", "", max_replacements=2),
                    ],
                ),
                ok,
                None,
            )
        if kind == "bad_pattern":
            return self._bad_pattern(col, x, rng, fb)
        if kind == "too_short":
            short = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(x, 0, col.min_length - 1))
            empty = np.asarray(pc.equal(pc.utf8_length(short), 0))
            return pc.if_else(pa.array(empty), "x", short), ok, None
        if kind == "too_long":
            target = col.max_length + 1 + rng.integers(0, 12, m)
            # letters and digits only: a cut can never end on a hyphen or apostrophe, so the
            # value breaks max_length and nothing else (e.g. an alphabetic format)
            base = pc.replace_substring_regex(x, "[^A-Za-z0-9]", "")
            base = pc.if_else(pc.equal(pc.utf8_length(base), 0), "x", base)
            lens = np.maximum(np.asarray(pc.utf8_length(base)), 1)
            rep = pc.binary_repeat(base, pa.array(target // lens + 1))
            out = [pc.utf8_slice_codeunits(rep, 0, int(t)) for t in np.unique(target)]
            sel = np.searchsorted(np.unique(target), target)
            return pa.concat_arrays(out).take(pa.array(sel * m + np.arange(m))), ok, None
        raise AssertionError(kind)  # pragma: no cover

    def _numeric_fault(self, col: Column, kind: str, typed: np.ndarray, rng) -> np.ndarray:
        m = len(typed)
        is_int = col.type == ColumnType.integer
        mag = np.maximum(np.abs(typed), 1 if is_int else 0.01)
        if kind == "negative_number":
            return -mag
        if col.max is not None:
            if is_int:
                extra = mag.astype(np.int64) if col.unique else rng.integers(1, max(2, int(abs(col.max)) + 1), m)
                return math.floor(col.max) + extra
            top = abs(col.max) if col.max else 1.0
            return np.floor((col.max + top * (0.5 + 9 * rng.random(m))) * 100) / 100 + 0.01
        lo = col.min
        if lo > 0:  # below a positive minimum, but not negative
            if is_int:
                return rng.integers(0, math.ceil(lo), m).astype(float)
            return np.floor(lo * 100 * rng.random(m)) / 100
        if is_int:
            return math.ceil(lo) - (mag.astype(np.int64) if col.unique else rng.integers(1, 100, m))
        return np.floor((lo - 1 - 100 * rng.random(m)) * 100) / 100

    def _bad_allowed(self, col: Column, m: int, rng) -> pa.Array:
        allowed = {str(a).strip().lower() for a in col.allowed_values}
        if col.type in _NUMERIC:
            nums = [float(a) for a in col.allowed_values]
            base = int(max(nums)) + 1
            return _int_text(base + rng.integers(0, 5, m))
        if col.type in _TEMPORAL:
            return _take(["1999-12-31", "2001-01-01", "2010-07-04"], rng.integers(0, 3, m))
        pool = CURRENCY_CODES if col.format == Format.currency_code else OTHER_STATUSES
        pool = [p for p in pool if p.lower() not in allowed] or ["not_allowed"]
        return self._apply_case(col, _take(pool, rng.integers(0, len(pool), m)))

    def _bad_pattern(self, col: Column, x: pa.Array, rng, fb):
        """Variants of the clean value that the pattern rejects even after cleaning: the
        injective ones first (unique columns stay unique), dropping a character last."""
        variants = [
            _join(x, "9"),
            pc.utf8_replace_slice(x, 1, 1, "-"),
            _join("#", x),
            pc.utf8_slice_codeunits(x, 0, -1),
        ]
        m = len(x)
        first = rng.integers(0, 3, m)
        chosen = np.full(m, -1)
        for step in range(len(variants)):
            vi_row = (first + step) % 3 if step < 3 else np.full(m, 3)
            for vi in np.unique(vi_row):
                sel = (chosen < 0) & (vi_row == vi)
                if not sel.any():
                    continue
                cand = pd.Series(variants[vi].filter(pa.array(sel)).to_pylist(), dtype=object)
                found = self._clean_text(col, cand).str.contains(col.pattern, regex=True)
                chosen[np.flatnonzero(sel)[~found.to_numpy(dtype=bool)]] = vi
        ok = chosen >= 0
        values = pa.concat_arrays(variants).take(pa.array(chosen[ok] * m + np.flatnonzero(ok)))
        return values, ok, fb

    def _clean_text(self, col: Column, s: pd.Series) -> pd.Series:
        if col.cleaning.trim:
            s = s.str.strip()
        if col.cleaning.collapse_whitespace:
            s = s.str.replace(r"\s+", " ", regex=True)
        if col.cleaning.case == Case.lower:
            s = s.str.lower()
        elif col.cleaning.case == Case.upper:
            s = s.str.upper()
        return s

    def _temporal_fault(self, col: Column, kind: str, rows: np.ndarray, vals, rng):
        v = vals[col.name]
        unit = v.unit
        m = len(rows)
        ok = np.ones(m, dtype=bool)
        fmt = self._formats(col)[0]
        typed = np.asarray(v.typed)[rows]
        if kind == "malformed_date":
            return (
                _take(
                    ["not a date", "TBD", "yesterday", "??/??/????", "see notes", "31st of never"],
                    rng.integers(0, 6, m),
                ),
                ok,
                None,
            )
        if kind == "impossible_date":
            secs = typed * _UNIT_SECONDS[unit]
            dt = secs.astype("datetime64[s]")
            year = dt.astype("datetime64[Y]").astype(np.int64) + 1970
            md = [
                ("02", "30"),
                ("02", "31"),
                ("04", "31"),
                ("06", "31"),
                ("09", "31"),
                ("11", "31"),
                ("13", "15"),
                ("00", "10"),
                ("07", "00"),
                ("12", "32"),
            ]
            pick = rng.integers(0, len(md), m)
            tod = secs % 86400
            parts = {
                "Y": _pad(year, 4),
                "y": _pad(year % 100, 2),
                "m": _take([a for a, _ in md], pick),
                "d": _take([b for _, b in md], pick),
                "H": _pad(tod // 3600, 2),
                "M": _pad(tod // 60 % 60, 2),
                "S": _pad(tod % 60, 2),
            }
            text = _fmt_parts(fmt, parts)
            if text is None:
                return None, np.zeros(m, dtype=bool), "malformed_date"
            return text, ok, None
        per_day = 86400 // _UNIT_SECONDS[unit]
        if kind == "future_date":
            lo = int(FUTURE_START.astype(np.int64)) * per_day
            lo_row, hi_row = np.full(m, lo), np.full(m, lo + 15 * 365 * per_day)
        else:  # out_of_range
            cmin, cmax = _parse_bound(col.min, unit), _parse_bound(col.max, unit)
            if cmin is not None:
                lo_row, hi_row = np.full(m, cmin - 3650 * per_day), np.full(m, cmin - 1)
            else:
                end = (int(END_DATE.astype(np.int64)) + 1) * per_day - 1
                lo_row, hi_row = np.full(m, cmax + 1), np.full(m, min(cmax + 365 * per_day, end))
        # keep column-vs-column rules satisfied, so the fault violates only its own rule
        for cmp in self.comparisons:
            if col.name not in (cmp.greater, cmp.lesser):
                continue
            other = cmp.lesser if col.name == cmp.greater else cmp.greater
            ov = vals[other]
            o_sec = np.asarray(ov.typed)[rows] * _UNIT_SECONDS[ov.unit]
            step = 1 if cmp.strict else 0
            if col.name == cmp.greater:
                lo_row = np.maximum(lo_row, -(-o_sec // _UNIT_SECONDS[unit]) + step)
            else:
                hi_row = np.minimum(hi_row, o_sec // _UNIT_SECONDS[unit] - step)
        ok = lo_row <= hi_row
        cand = lo_row + np.floor(rng.random(m) * (hi_row - lo_row + 1)).astype(np.int64)
        return _strftime(cand[ok], unit, fmt), ok, "malformed_date"

    def _rule_fault_window(self, cmp: _Comparison):
        """Common range of both columns, where a violating pair of valid values can be drawn."""
        g, l_ = self.cols[cmp.greater], self.cols[cmp.lesser]
        if g.type in _TEMPORAL:
            glo, ghi = self._range(g, "s")
            llo, lhi = self._range(l_, "s")
        else:
            glo, ghi = self._num_range(g)
            llo, lhi = self._num_range(l_)
        lo, hi = max(glo, llo), min(ghi, lhi)
        return (lo, hi) if hi - lo >= 2 * 86400 or (g.type in _NUMERIC and hi - lo > 1) else None

    def _num_range(self, col: Column) -> tuple[float, float]:
        lo = col.min if col.min is not None else 0.0
        hi = col.max if col.max is not None else lo + 10_000.0
        return float(lo), float(hi)

    def _fault_rule(self, cmp: _Comparison, rows: np.ndarray, vals, rng, edits) -> np.ndarray:
        """Swap the order of a valid pair (e.g. born after the account was created); both
        values stay inside their columns' ranges, so only the rule is violated."""
        lo, hi = self._rule_fault_window(cmp)
        m = len(rows)
        g, l_ = self.cols[cmp.greater], self.cols[cmp.lesser]
        out: dict[str, tuple] = {}
        if g.type in _TEMPORAL:
            lo_u, hi_u = lo // 86400 + 1, hi // 86400 - 1  # whole days inside the window
            a = lo_u + np.floor(rng.random(m) * (hi_u - lo_u)).astype(np.int64)
            b = a + 1 + np.floor(rng.random(m) * (hi_u - a)).astype(np.int64)
            for c, day in ((g, a), (l_, b)):  # the greater column gets the smaller value
                u = vals[c.name].unit
                typed = day * (86400 // _UNIT_SECONDS[u])
                out[c.name] = (typed, _strftime(typed, u, self._formats(c)[0]), u)
        else:
            a = lo + rng.random(m) * (hi - lo) / 2
            b = a + 1 + rng.random(m) * (hi - a - 1)
            for c, val in ((g, a), (l_, b)):
                if c.type == ColumnType.integer:
                    typed = np.floor(val).astype(np.int64)
                    text = _int_text(typed)
                else:
                    cents = np.round(val * 100).astype(np.int64)
                    typed, text = cents / 100, _money_text(cents)
                out[c.name] = (typed, text, None)
        subst = {name: self._typed_series(name, t, None, None, u) for name, (t, _, u) in out.items()}
        ok = self._rules_hold(rows, subst, vals, skip=cmp.rule_id)
        for name, (_, text, _) in out.items():
            edits.setdefault(name, []).append((rows[ok], text.filter(pa.array(ok))))
        return ok
