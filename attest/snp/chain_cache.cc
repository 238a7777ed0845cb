#include "attest/snp/chain_cache.h"

#include <algorithm>

namespace cloak::attest::snp {

SnpChainCache::SnpChainCache(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::shared_ptr<const VerifiedVcek> SnpChainCache::Find(const Sha256Digest& vcek_sha256) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(vcek_sha256);
  return it == entries_.end() ? nullptr : it->second;
}

void SnpChainCache::Insert(const Sha256Digest& vcek_sha256,
                           std::shared_ptr<const VerifiedVcek> chain) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(vcek_sha256) != 0) return;  // another thread verified it first
  while (entries_.size() >= capacity_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  entries_.emplace(vcek_sha256, std::move(chain));
  order_.push_back(vcek_sha256);
}

std::size_t SnpChainCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cloak::attest::snp
