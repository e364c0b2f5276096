"""Land supply: listing (招拍挂), contracts (出让合同), idle land (闲置土地) and the daily clock."""
